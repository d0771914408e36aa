/* persist.c: saving RDB files as Redis users know it (see persist.h).
 *
 * Owns: every shard's rk_persist (its waiting clients, its cut's change
 * count, its LASTSAVE mirror) and, on shard 0, the save coordinator.
 * Threads: each shard touches only its own rk_persist; the coordinator
 * state is touched only on shard 0 (in hops that run there and in shard 0's
 * own messages and ticks). The start-up thread talks to shard 0 only through
 * a message and a pipe (persist_save_before_exit).
 *
 * Invariants:
 *  - at most one save runs (coord->job != 0 while it does); a save's job
 *    number is unique and increasing;
 *  - a client waiting for a save is registered on its home shard before the
 *    sink may finish (the START message is sent after the registration, and
 *    the sink writes nothing before it), so no status is missed;
 *  - a shard subtracts the changes counted at its cut from `dirty` only for
 *    a successful save of the job whose cut it took;
 *  - a replica snapshot (persist_repl_snapshot_msg) holds the same slot
 *    (coord->job) and is answered exactly once with SNAP_CUT, then, only
 *    after ok = 1, exactly once with SNAP_DONE; its request message is
 *    touched only on shard 0 and only until it is pushed back. */
#include "storage/persist.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/client.h"
#include "core/function.h"
#include "core/log.h"
#include "core/journal.h"
#include "core/multikey.h"
#include "core/txn.h"
#include "io/reply.h"
#include "storage/aof.h"
#include "storage/rdb_load.h"
#include "storage/rdb_sink.h"
#include "storage/snapshot.h"

/* Redis's CONFIG_BGSAVE_RETRY_DELAY: after a failed save, save points wait this long. */
#define SAVE_RETRY_DELAY_S 5
/* Shards report their change counter to shard 0 at most this often. */
#define DIRTY_REPORT_MS 100

enum waiter_kind { W_SAVE, W_SHUTDOWN, W_EXIT, W_RELOAD };

/* Someone waiting for a save to end. job 0: waiting for the save that runs
 * now to end, to then start its own (SHUTDOWN and the exit save). */
typedef struct save_waiter {
    struct save_waiter *next;
    enum waiter_kind kind;
    uint64_t job;
    rk_client *client;     /* W_SAVE, W_SHUTDOWN: kept alive by CLIENT_IN_TXN */
    int force;             /* W_SHUTDOWN: exit even when the save fails */
    int notify_fd;         /* W_EXIT (shard 0): the start-up thread's pipe */
} save_waiter;

typedef struct save_coord {
    uint64_t next_job;
    uint64_t job;              /* the running save, 0 when none */
    int64_t start_ms;
    int scheduled;             /* BGSAVE SCHEDULE / BGSAVE inside EXEC */
    int last_ok;
    int64_t last_try_s, last_time_sec; /* LASTSAVE: shard 0's rk_persist.lastsave_s */
    uint64_t saves, last_cow;
    int auto_pending;          /* a save point's save was started, not yet claimed */
    int64_t dirty_of[RK_MAX_SHARDS];
    /* The replica snapshot holding the slot: its save job (== job while it
     * runs), 0 when none; where and under which number its end goes. */
    uint64_t repl_save_job;
    uint64_t repl_job;
    rk_mailbox *repl_reply_to;
    int repl_diskless;
} save_coord;

typedef struct rk_persist {
    save_waiter *waiters;
    uint64_t cut_job;
    int64_t dirty_at_cut;
    int64_t lastsave_s;        /* LASTSAVE, as shard 0 last told this shard */
    int64_t dirty_reported, last_report_ms;
    save_coord *coord;         /* shard 0 only */
} rk_persist;

typedef struct dirty_report {
    rk_msg m;
    int shard;
    int64_t dirty;
} dirty_report;

typedef struct save_status {
    rk_msg m;
    uint64_t job;
    int ok;
    int apply;                 /* also apply the outcome (no status transaction could run) */
    int64_t lastsave_s;
    struct save_result *fwd;   /* a replica snapshot's end, passed on once the slot is free */
} save_status;

typedef struct exit_request {
    rk_msg m;
    int notify_fd;
} exit_request;

/* What a save transaction carries (t->arg, coordinator-owned; the hops
 * read job and sink, which are set before the cut hop is sent). */
enum op_kind { OP_BGSAVE, OP_SAVE, OP_SHUTDOWN, OP_AUTO, OP_EXIT, OP_RELOAD, OP_REPL };
enum claim { CLAIM_STARTED = 1, CLAIM_BUSY, CLAIM_SCHEDULED, CLAIM_AOF_BUSY };

typedef struct save_op {
    enum op_kind kind;
    int schedule_only;         /* BGSAVE inside EXEC: Redis schedules it */
    int schedule_arg;          /* BGSAVE SCHEDULE: scheduled while an AOF rewrite runs */
    int force;
    int notify_fd;
    rk_client *waiter;         /* SAVE/SHUTDOWN: the client answered at the end */
    uint64_t job;
    rdb_sink *sink;
    /* OP_REPL: the request, held from its arrival to the cut (shard 0). */
    persist_repl_snap_msg *repl;
    int repl_diskless;
} save_op;

static int64_t now_s(void) { return rk_mstime() / 1000; }

static const rk_command *save_command(void);

/* ---- waiters ------------------------------------------------------------ */

static save_waiter *add_waiter(rk_shard *s, enum waiter_kind kind, uint64_t job)
{
    save_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->kind = kind;
    w->job = job;
    w->notify_fd = -1;
    w->next = s->persist->waiters;
    s->persist->waiters = w;
    return w;
}

static void reply_to_client(rk_client *c, const char *line)
{
    rk_buf b;
    rk_buf_init(&b);
    if (rk_buf_append_str(&b, line) != 0)
        rk_buf_clear(&b); /* the client then gets an empty reply slot: still in order */
    client_txn_done(c, &b);
    rk_buf_free(&b);
}

void persist_verdict_send(int fd, char verdict)
{
    ssize_t n;
    do
        n = write(fd, &verdict, 1);
    while (n < 0 && errno == EINTR);
}

char persist_verdict_wait(int fd)
{
    char verdict;
    ssize_t n;
    do
        n = read(fd, &verdict, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? verdict : 0;
}

static void ask_for_exit(void)
{
    union sigval v = {.sival_int = RK_SHUTDOWN_SAVED};
    sigqueue(getpid(), SIGTERM, v);
}

/* ---- starting a save ---------------------------------------------------- */

static void claim_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    if (s->id != 0)
        return;
    save_op *op = t->arg;
    save_coord *co = s->persist->coord;
    unsigned char verdict;
    uint64_t job = 0;
    if (op->kind == OP_AUTO)
        co->auto_pending = 0;
    if (co->job) {
        verdict = CLAIM_BUSY;
    } else if (aof_rewrite_busy(s) && op->kind == OP_BGSAVE && op->schedule_arg) {
        co->scheduled = 1; /* the snapshot slot is the AOF rewrite's: after it */
        verdict = CLAIM_SCHEDULED;
    } else if (aof_rewrite_busy(s)) {
        verdict = CLAIM_AOF_BUSY;
    } else if (op->schedule_only) {
        co->scheduled = 1;
        verdict = CLAIM_SCHEDULED;
    } else {
        job = ++co->next_job;
        co->job = job;
        co->start_ms = rk_mstime();
        if (op->kind != OP_REPL || !op->repl_diskless) /* a transfer is no save attempt */
            co->last_try_s = now_s();
        co->scheduled = 0;
        verdict = CLAIM_STARTED;
    }
    if (rk_buf_append(out, &verdict, 1) != 0 || rk_buf_append(out, &job, sizeof job) != 0) {
        rk_buf_clear(out);
        if (verdict == CLAIM_STARTED)
            co->job = 0; /* the step sees no verdict: nobody would free the slot */
    }
}

static void cut_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    save_op *op = t->arg;
    if (op->kind != OP_REPL || !op->repl_diskless) {
        s->persist->cut_job = op->job;
        s->persist->dirty_at_cut = s->dirty;
    }
    int64_t used = rk_alloc_thread_used();
    snapshot_begin(s, op->sink, op->job); /* a failure is reported to the sink */
    if (rk_buf_append(out, &used, sizeof used) != 0) {
        rk_buf_clear(out);
        return;
    }
    if (op->kind == OP_REPL) {
        /* Every shard is paused in this hop: the positions form one cut. */
        assert(s->journal);
        uint64_t pos = journal_end(s->journal);
        if (rk_buf_append(out, &pos, sizeof pos) != 0)
            rk_buf_clear(out);
    }
}

static void repl_cut_step(rk_txn *t, rdb_aux_info *aux);

static void finish_with(rk_txn *t, const char *line)
{
    if (line)
        rk_buf_append_str(&t->reply, line);
    txn_finish(t);
}

/* After the cut: register who waits, then let the sink begin. */
static void cut_step(rk_txn *t)
{
    save_op *op = t->arg;
    rdb_aux_info aux;
    memset(&aux, 0, sizeof aux);
    aux.ctime = now_s();
    for (int i = 0; i < g_nshards; i++) {
        int64_t used = 0;
        if (t->out[i].len >= sizeof used) /* a replica snapshot's journal position follows */
            memcpy(&used, t->out[i].data, sizeof used);
        aux.used_mem += used;
    }
    memcpy(aux.repl_id, g_run_id, 40);
    aux.repl_id[40] = '\0';
    rk_shard *s = t->coord;
    const char *reply = NULL;
    save_waiter *w = NULL;
    /* Every shard is still paused at the cut: the coordinator's libraries
     * are everyone's, as of the cut. Without memory for them the sink fails
     * the save (RDB_AUX_FUNCTIONS_OOM) rather than write a file without them. */
    rk_buf fns;
    rk_buf_init(&fns);
    if (function_codes_blob(s, &fns) != 0) {
        rk_buf_free(&fns);
        aux.functions = NULL;
        aux.functions_len = RDB_AUX_FUNCTIONS_OOM;
    } else {
        aux.functions = fns.data;
        aux.functions_len = fns.len;
    }
    if (op->kind == OP_REPL) {
        repl_cut_step(t, &aux);
        return;
    }
    switch (op->kind) {
    case OP_BGSAVE:
        reply = "+Background saving started\r\n";
        break;
    case OP_AUTO:
        break;
    case OP_SAVE:
    case OP_SHUTDOWN:
    case OP_RELOAD:
        w = add_waiter(s, op->kind == OP_SAVE ? W_SAVE : op->kind == OP_SHUTDOWN ? W_SHUTDOWN : W_RELOAD, op->job);
        if (!w) {
            reply = "-ERR out of memory\r\n"; /* the save goes on without a listener */
            break;
        }
        w->client = op->waiter;
        w->force = op->force;
        break;
    case OP_EXIT:
        w = add_waiter(s, W_EXIT, op->job);
        if (!w) {
            persist_verdict_send(op->notify_fd, 'f');
            break;
        }
        w->notify_fd = op->notify_fd;
        break;
    case OP_REPL:
        break;
    }
    rdb_sink_send_start(op->sink, &aux);
    finish_with(t, reply);
}

static void repl_claim_step(rk_txn *t, unsigned char verdict);

static void claim_step(rk_txn *t)
{
    save_op *op = t->arg;
    const rk_buf *o = &t->out[0];
    unsigned char verdict = o->len == 1 + sizeof(uint64_t) ? (unsigned char)o->data[0] : 0;
    rk_shard *s = t->coord;
    if (op->kind == OP_REPL) {
        repl_claim_step(t, verdict);
        return;
    }
    if (verdict == CLAIM_SCHEDULED) {
        finish_with(t, "+Background saving scheduled\r\n");
        return;
    }
    if (verdict == CLAIM_AOF_BUSY && op->kind == OP_BGSAVE) {
        finish_with(t, "-ERR Another child process is active (AOF?): use BGSAVE SCHEDULE in order to schedule a "
                       "BGSAVE whenever possible.\r\n");
        return;
    }
    if (verdict == CLAIM_AOF_BUSY && op->kind == OP_AUTO) {
        finish_with(t, NULL); /* the save point fires again after the rewrite */
        return;
    }
    if (verdict == CLAIM_AOF_BUSY) {
        /* SAVE, SHUTDOWN, the exit save, DEBUG RELOAD: after the rewrite
         * (Redis runs SAVE beside its rewrite child; the snapshot slot
         * here is one per shard). */
        enum waiter_kind wk = op->kind == OP_SAVE       ? W_SAVE
                              : op->kind == OP_SHUTDOWN ? W_SHUTDOWN
                              : op->kind == OP_RELOAD   ? W_RELOAD
                                                        : W_EXIT;
        save_waiter *w = add_waiter(s, wk, 0);
        if (w) {
            w->client = op->waiter;
            w->force = op->force;
            w->notify_fd = op->notify_fd;
            finish_with(t, NULL);
            return;
        }
        verdict = CLAIM_BUSY;
    }
    if (verdict != CLAIM_STARTED) {
        if ((op->kind == OP_SHUTDOWN || op->kind == OP_EXIT) && verdict == CLAIM_BUSY) {
            /* Redis stops a running save and saves anew; here the running
             * one finishes first, then this save starts (waiter job 0). */
            save_waiter *w = add_waiter(s, op->kind == OP_SHUTDOWN ? W_SHUTDOWN : W_EXIT, 0);
            if (w) {
                w->client = op->waiter;
                w->force = op->force;
                w->notify_fd = op->notify_fd;
                finish_with(t, NULL);
                return;
            }
        }
        if (op->kind == OP_EXIT)
            persist_verdict_send(op->notify_fd, 'f');
        if (op->waiter)
            reply_to_client(op->waiter, verdict == CLAIM_BUSY ? "-ERR Background save already in progress\r\n"
                                                              : "-ERR out of memory\r\n");
        else if (op->kind == OP_BGSAVE)
            rk_buf_append_str(&t->reply, verdict == CLAIM_BUSY ? "-ERR Background save already in progress\r\n"
                                                               : "-ERR out of memory\r\n");
        finish_with(t, NULL);
        return;
    }
    memcpy(&op->job, o->data + 1, sizeof op->job);
    char err[128];
    op->sink = rdb_sink_start(op->job, g_nshards, s->cfg.dbfilename, s->cfg.rdbchecksum, err, sizeof err);
    if (!op->sink) {
        /* Nothing was cut: shard 0 hears of it as of any failed save. */
        rk_log(LL_WARNING, "Can't save in background: %s", err);
        save_result *r = calloc(1, sizeof *r);
        if (r) {
            r->m.type = MSG_SAVE_RESULT;
            r->job = op->job;
            snprintf(r->err, sizeof r->err, "%s", err);
            shard_send(0, &r->m);
        } else {
            abort(); /* shard 0 would believe a save runs forever */
        }
        if (op->kind == OP_EXIT)
            persist_verdict_send(op->notify_fd, 'f');
        if (op->waiter)
            reply_to_client(op->waiter, "-ERR\r\n");
        finish_with(t, op->kind == OP_BGSAVE ? "-ERR\r\n" : NULL);
        return;
    }
    txn_hop(t, cut_hop, cut_step);
}

/* Starts a save of `kind`. A BGSAVE answers `c` through the transaction;
 * SAVE and SHUTDOWN answer `waiter` (a client kept in its transaction state,
 * CLIENT_IN_TXN, until the save ends: see waiter_start). Returns -1 when
 * the transaction could not be created (the caller answers). */
static int start_save_op(rk_client *c, rk_client *waiter, enum op_kind kind, int schedule_only, int schedule_arg,
                         int force, int notify_fd)
{
    save_op *op = calloc(1, sizeof *op);
    if (!op)
        return -1;
    op->kind = kind;
    op->schedule_arg = schedule_arg;
    op->schedule_only = schedule_only;
    op->force = force;
    op->notify_fd = notify_fd;
    op->waiter = waiter;
    rk_slice name = RK_SLICE("save");
    rk_txn *t = txn_new(c, save_command(), txn_all_shards(), 1, &name);
    if (!t) {
        free(op);
        return -1;
    }
    t->arg = op;
    t->arg_free = free;
    txn_start(t, claim_hop, claim_step);
    return 0;
}

static int start_save(rk_client *c, rk_client *waiter, enum op_kind kind, int schedule_only, int force,
                      int notify_fd)
{
    return start_save_op(c, waiter, kind, schedule_only, 0, force, notify_fd);
}

/* SAVE and SHUTDOWN: the client's own transaction slot stays reserved
 * (client_txn_begin) while an internal transaction runs the save; the
 * answer fills that slot when the save ends (client_txn_done). */
static int waiter_start(rk_client *c, enum op_kind kind, int force)
{
    if (client_txn_begin(c) != 0)
        return -1;
    if (start_save(NULL, c, kind, 0, force, -1) != 0) {
        rk_buf empty;
        rk_buf_init(&empty);
        client_txn_done(c, &empty); /* gives the slot back; the caller answers */
        return -1;
    }
    return 0;
}

/* ---- the end of a save ------------------------------------------------- */

static void broadcast_status(uint64_t job, int ok, int64_t lastsave_s, int apply)
{
    for (int i = 0; i < g_nshards; i++) {
        save_status *st = calloc(1, sizeof *st);
        if (!st)
            abort(); /* a shard left with a wrong MISCONF state and a stuck client */
        st->m.type = MSG_SAVE_STATUS;
        st->job = job;
        st->ok = ok;
        st->apply = apply;
        st->lastsave_s = lastsave_s;
        shard_send(i, &st->m);
    }
}

/* The end of a save as every shard records it: its change counter, its
 * MISCONF flag, its LASTSAVE; on shard 0 the coordinator too. */
static void apply_outcome(rk_shard *s, uint64_t job, int ok, int64_t lastsave_s)
{
    rk_persist *p = s->persist;
    s->last_save_failed = !ok;
    p->lastsave_s = lastsave_s;
    if (ok && p->cut_job == job) {
        s->dirty -= p->dirty_at_cut;
        p->dirty_at_cut = 0;
    }
    if (s->id != 0)
        return;
    save_coord *co = p->coord;
    assert(co->job == job);
    co->job = 0;
    co->last_ok = ok;
    co->last_time_sec = (rk_mstime() - co->start_ms + 500) / 1000;
    if (ok)
        co->saves++;
}

static void outcome_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)out;
    const save_status *st = t->arg;
    apply_outcome(s, st->job, st->ok, st->lastsave_s);
}

/* After every shard recorded the outcome: answer whoever waits for it. */
static void repl_forward(rk_shard *s, struct save_result *r);

static void outcome_step(rk_txn *t)
{
    save_status *st = t->arg;
    broadcast_status(st->job, st->ok, st->lastsave_s, 0);
    if (st->fwd) {
        repl_forward(t->coord, st->fwd);
        st->fwd = NULL;
    }
    txn_finish(t);
}

/* Shard 0: the sink (or a failed start) reports. The outcome is applied in
 * one all-shard transaction, so no INFO sees the save ended on one shard
 * and running on another (change counters and status move together). */
static void repl_diskless_done(rk_shard *s, save_result *r);

static void on_save_result(rk_shard *s, save_result *r)
{
    save_coord *co = s->persist->coord;
    assert(co->job == r->job);
    int repl = co->repl_save_job != 0 && co->repl_save_job == r->job;
    if (repl && co->repl_diskless) {
        repl_diskless_done(s, r);
        return;
    }
    if (r->ok) {
        co->last_cow = r->cow_bytes;
        rk_log(LL_NOTICE, "Background saving terminated with success (%llu bytes, %llu bytes of snapshot buffers)",
               (unsigned long long)r->bytes, (unsigned long long)r->cow_bytes);
    } else {
        rk_log(LL_WARNING, "Background saving error: %s", r->err[0] ? r->err : "unknown");
    }
    int64_t lastsave_s = r->ok ? now_s() : s->persist->lastsave_s;
    save_status *st = calloc(1, sizeof *st);
    rk_slice name = RK_SLICE("save");
    rk_txn *t = st ? txn_new(NULL, save_command(), txn_all_shards(), 1, &name) : NULL;
    if (t) {
        st->job = r->job;
        st->ok = r->ok;
        st->lastsave_s = lastsave_s;
        st->fwd = repl ? r : NULL;
        t->arg = st;
        t->arg_free = free;
        txn_start(t, outcome_hop, outcome_step);
    } else {
        free(st);
        apply_outcome(s, r->job, r->ok, lastsave_s);
        broadcast_status(r->job, r->ok, lastsave_s, 1);
        if (repl)
            repl_forward(s, r);
    }
    if (!repl)
        free(r);
}

static void coord_reply(rk_client *c, const char *line)
{
    rk_reply r = {client_reply_buf(c), c->resp};
    if (line[0] == '-') {
        reply_error(&r, line + 1);
        shard_count_error(c->home, line + 1);
    } else {
        reply_simple(&r, line);
    }
}

/* ---- DEBUG RELOAD -------------------------------------------------------- */

/* The loading thread's report to the client's home shard. */
typedef struct reload_job {
    rk_msg m;
    rk_client *client;   /* dereferenced only on its home shard */
    int home;
    int ok;
    char path[1024];
} reload_job;

static void *reload_thread(void *arg)
{
    reload_job *j = arg;
    char err[512];
    rdb_load_result res;
    memset(&res, 0, sizeof res);
    j->ok = rdb_load_into_shards(j->path, &res, err, sizeof err) == 0;
    if (j->ok)
        rk_log(LL_NOTICE, "DB reloaded by DEBUG RELOAD");
    else
        rk_log(LL_WARNING, "DEBUG RELOAD failed: %s", err);
    j->m.type = MSG_RELOAD_DONE;
    shard_send(j->home, &j->m);
    return NULL;
}

/* Loads dbfilename into the shards on a thread of its own (the shards
 * answer -LOADING meanwhile); the client is answered when it is done. */
static int start_reload(rk_shard *s, rk_client *c)
{
    reload_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->client = c;
    j->home = s->id;
    snprintf(j->path, sizeof j->path, "%s", s->cfg.dbfilename);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, reload_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(j);
        return -1;
    }
    return 0;
}

static void debug_reload(rk_client *c, int argc, rk_slice *argv)
{
    int nosave = 0;
    for (int i = 2; i < argc; i++) {
        if (rk_slice_eq_nocase(argv[i], "nosave")) {
            nosave = 1;
        } else {
            /* MERGE and NOFLUSH would load over the live data: not offered. */
            coord_reply(c, "-ERR syntax error");
            return;
        }
    }
    if (nosave) {
        if (client_txn_begin(c) != 0) {
            coord_reply(c, "-ERR out of memory");
            return;
        }
        if (start_reload(c->home, c) != 0)
            reply_to_client(c, "-ERR out of memory\r\n");
        return;
    }
    if (waiter_start(c, OP_RELOAD, 0) != 0)
        coord_reply(c, "-ERR out of memory");
}

static void wake_waiter(rk_shard *s, save_waiter *w, int ok)
{
    if (w->job == 0) {
        /* It waited for someone else's save: now start its own. */
        if (w->kind == W_SHUTDOWN) {
            if (start_save(NULL, w->client, OP_SHUTDOWN, 0, w->force, -1) != 0)
                reply_to_client(w->client, "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
        } else if (w->kind == W_SAVE || w->kind == W_RELOAD) {
            if (start_save(NULL, w->client, w->kind == W_SAVE ? OP_SAVE : OP_RELOAD, 0, 0, -1) != 0)
                reply_to_client(w->client, "-ERR out of memory\r\n");
        } else if (start_save(NULL, NULL, OP_EXIT, 0, 0, w->notify_fd) != 0) {
            persist_verdict_send(w->notify_fd, 'f');
        }
        return;
    }
    switch (w->kind) {
    case W_SAVE:
        reply_to_client(w->client, ok ? "+OK\r\n" : "-ERR\r\n");
        break;
    case W_SHUTDOWN:
        if (ok || w->force) {
            rk_log(LL_WARNING, ok ? "DB saved on disk" : "Error trying to save the DB, exiting anyway (FORCE)");
            client_kill(w->client);
            reply_to_client(w->client, "");
            ask_for_exit();
        } else {
            rk_log(LL_WARNING, "Error trying to save the DB, can't exit.");
            reply_to_client(w->client, "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
        }
        break;
    case W_EXIT:
        persist_verdict_send(w->notify_fd, ok ? 'y' : 'f');
        break;
    case W_RELOAD:
        if (!ok || start_reload(s, w->client) != 0)
            reply_to_client(w->client, ok ? "-ERR out of memory\r\n" : "-ERR Error trying to save the DB\r\n");
        break;
    }
}

static void on_save_status(rk_shard *s, save_status *st)
{
    rk_persist *p = s->persist;
    if (st->apply && s->id != 0)
        apply_outcome(s, st->job, st->ok, st->lastsave_s);
    /* Detach the list first: waking may register new waiters. */
    save_waiter *list = p->waiters;
    p->waiters = NULL;
    save_waiter **keep = &p->waiters;
    while (list) {
        save_waiter *w = list;
        list = w->next;
        if (w->job == st->job || w->job == 0) {
            wake_waiter(s, w, st->ok);
            free(w);
        } else {
            w->next = NULL;
            while (*keep)
                keep = &(*keep)->next;
            *keep = w;
        }
    }
}

/* ---- save points -------------------------------------------------------- */

static void report_dirty(rk_shard *s)
{
    rk_persist *p = s->persist;
    int64_t now = rk_mstime();
    if (s->dirty == p->dirty_reported || now - p->last_report_ms < DIRTY_REPORT_MS)
        return;
    if (s->id == 0) {
        p->coord->dirty_of[0] = s->dirty;
    } else {
        dirty_report *d = malloc(sizeof *d);
        if (!d)
            return; /* reported on a later tick */
        d->m.type = MSG_DIRTY_REPORT;
        d->shard = s->id;
        d->dirty = s->dirty;
        shard_send(0, &d->m);
    }
    p->dirty_reported = s->dirty;
    p->last_report_ms = now;
}

/* Shard 0, every tick: Redis's serverCron save-point check. */
static void check_save_points(rk_shard *s)
{
    save_coord *co = s->persist->coord;
    if (co->job || co->auto_pending || s->loading.active || aof_rewrite_busy(s))
        return;
    if (co->scheduled) {
        co->scheduled = 0;
        if (start_save(NULL, NULL, OP_AUTO, 0, 0, -1) != 0)
            co->scheduled = 1;
        else
            co->auto_pending = 1;
        return;
    }
    int64_t dirty = 0;
    for (int i = 0; i < g_nshards; i++)
        dirty += co->dirty_of[i];
    int64_t now = now_s();
    for (int i = 0; i < s->cfg.n_save_params; i++) {
        const rk_save_param *sp = &s->cfg.save_params[i];
        if (dirty >= sp->changes && now - s->persist->lastsave_s > sp->seconds &&
            (co->last_ok || now - co->last_try_s > SAVE_RETRY_DELAY_S)) {
            rk_log(LL_NOTICE, "%lld changes in %lld seconds. Saving...", (long long)sp->changes,
                   (long long)sp->seconds);
            if (start_save(NULL, NULL, OP_AUTO, 0, 0, -1) == 0)
                co->auto_pending = 1;
            break;
        }
    }
}

/* ---- commands ---------------------------------------------------------- */

static void bgsave_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    if (argc > 2 || (argc == 2 && !rk_slice_eq_nocase(argv[1], "schedule"))) {
        coord_reply(c, "-ERR syntax error");
        return;
    }
    /* Inside EXEC Redis schedules rather than saves. */
    int schedule_only = client_exec_txn(c) != NULL;
    if (start_save_op(c, NULL, OP_BGSAVE, schedule_only, argc == 2, 0, -1) != 0)
        coord_reply(c, "-ERR out of memory");
}

static void save_coord_cmd(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    (void)argc;
    (void)argv;
    if (waiter_start(c, OP_SAVE, 0) != 0)
        coord_reply(c, "-ERR out of memory");
}

static void lastsave_proc(rk_ctx *c)
{
    reply_int(&c->r, c->shard->persist->lastsave_s);
}

static void shutdown_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    int save = 0, nosave = 0, abort_req = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        if (rk_slice_eq_nocase(argv[i], "nosave")) nosave = 1;
        else if (rk_slice_eq_nocase(argv[i], "save")) save = 1;
        else if (rk_slice_eq_nocase(argv[i], "now")) continue;
        else if (rk_slice_eq_nocase(argv[i], "force")) force = 1;
        else if (rk_slice_eq_nocase(argv[i], "abort")) abort_req = 1;
        else { coord_reply(c, "-ERR syntax error"); return; }
    }
    if ((save && nosave) || (abort_req && argc > 2)) {
        coord_reply(c, "-ERR syntax error");
        return;
    }
    if (abort_req) {
        coord_reply(c, "-ERR No shutdown in progress.");
        return;
    }
    rk_log(LL_WARNING, "User requested shutdown...");
    if (!nosave && (save || c->home->cfg.n_save_params > 0) && !c->home->loading.active) {
        rk_log(LL_NOTICE, "Saving the final RDB snapshot before exiting.");
        if (waiter_start(c, OP_SHUTDOWN, force) != 0)
            coord_reply(c, "-ERR Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    /* Redis sends no reply when it exits. */
    client_kill(c);
    ask_for_exit();
}

const rk_command rk_persist_commands[] = {
    {.name = "save", .arity = 1, .flags = CMD_NOSCRIPT | CMD_ADMIN | CMD_NO_MULTI, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_ALL, .coord = save_coord_cmd, .summary = "Synchronously saves the database(s) to disk.",
     .since = "1.0.0", .group = "server", .complexity = "O(N) where N is the total number of keys in all databases"},
    {.name = "bgsave", .arity = -1, .flags = CMD_NOSCRIPT | CMD_ADMIN, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_ALL, .coord = bgsave_coord, .summary = "Asynchronously saves the database(s) to disk.",
     .since = "1.0.0", .group = "server", .complexity = "O(1)"},
    {.name = "lastsave", .arity = 1, .flags = CMD_LOADING | CMD_STALE | CMD_FAST,
     .acl_categories = "@admin @fast @dangerous", .exec = EXEC_CONN, .proc = lastsave_proc,
     .summary = "Returns the Unix timestamp of the last successful save to disk.", .since = "1.0.0",
     .group = "server", .complexity = "O(1)", .tips = "nondeterministic_output"},
    {.name = "shutdown", .arity = -1,
     .flags = CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_NO_MULTI | CMD_SENTINEL | CMD_ALLOW_BUSY,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = shutdown_coord,
     .summary = "Synchronously saves the database(s) to disk and shuts down the Redis server.", .since = "1.0.0",
     .group = "server", .complexity = "O(N) when saving, where N is the total number of keys in all databases"},
    {0},
};

static const rk_command *save_command(void)
{
    return cmd_lookup(RK_SLICE("save"));
}

/* ---- shard plugins ------------------------------------------------------ */

static int persist_on_start(rk_shard *s)
{
    rk_persist *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->lastsave_s = g_start_ms / 1000; /* as Redis: at start the data counts as saved */
    if (s->id == 0) {
        p->coord = calloc(1, sizeof *p->coord);
        if (!p->coord) {
            free(p);
            return -1;
        }
        p->coord->last_ok = 1;
        p->coord->last_time_sec = -1;
    }
    s->persist = p;
    return aof_on_start(s);
}

static void persist_on_tick(rk_shard *s)
{
    report_dirty(s);
    if (s->id == 0)
        check_save_points(s);
}

static void persist_msg(rk_shard *s, rk_msg *m)
{
    switch (m->type) {
    case MSG_SNAP_CHUNK_BACK:
    case MSG_SNAP_ABORT:
        snapshot_handle_msg(s, m);
        break;
    case MSG_SAVE_RESULT:
        assert(s->id == 0);
        on_save_result(s, (save_result *)m);
        break;
    case MSG_SAVE_STATUS:
        on_save_status(s, (save_status *)m);
        free(m);
        break;
    case MSG_DIRTY_REPORT: {
        dirty_report *d = (dirty_report *)m;
        assert(s->id == 0 && d->shard >= 0 && d->shard < g_nshards);
        s->persist->coord->dirty_of[d->shard] = d->dirty;
        free(d);
        break;
    }
    case MSG_RELOAD_DONE: {
        reload_job *j = (reload_job *)m;
        reply_to_client(j->client, j->ok ? "+OK\r\n"
                                         : "-ERR Error trying to load the RDB dump, check server logs.\r\n");
        free(j);
        break;
    }
    case MSG_SAVE_REQUEST: {
        exit_request *q = (exit_request *)m;
        assert(s->id == 0);
        if (s->cfg.n_save_params == 0 || s->loading.active) {
            persist_verdict_send(q->notify_fd, 'n');
        } else {
            rk_log(LL_NOTICE, "Saving the final RDB snapshot before exiting.");
            if (start_save(NULL, NULL, OP_EXIT, 0, 0, q->notify_fd) != 0)
                persist_verdict_send(q->notify_fd, 'f');
        }
        free(q);
        break;
    }
    default:
        assert(0 && "unknown persistence message");
    }
}

static void persist_info(rk_shard *s, char *buf, size_t cap)
{
    const save_coord *co = s->persist->coord;
    int64_t now = rk_mstime();
    snprintf(buf, cap,
             "rdb_bgsave_in_progress:%d\r\nrdb_last_save_time:%lld\r\nrdb_last_bgsave_status:%s\r\n"
             "rdb_last_bgsave_time_sec:%lld\r\nrdb_current_bgsave_time_sec:%lld\r\nrdb_saves:%llu\r\n"
             "rdb_last_cow_size:%llu\r\n",
             co->job ? 1 : 0, (long long)s->persist->lastsave_s, co->last_ok ? "ok" : "err",
             (long long)co->last_time_sec, co->job ? (long long)((now - co->start_ms) / 1000) : -1LL,
             (unsigned long long)co->saves, (unsigned long long)co->last_cow);
    aof_info_lines(s, buf, cap);
}

static void persist_on_stop(rk_shard *s)
{
    aof_on_stop(s); /* first: its log names the rewrite the abandon ends */
    snapshot_abandon(s);
}

/* rdb_load.c's messages; an END clears the loading flag, which the AOF's
 * start-up may hold (a base loaded through the RDB loader). */
static void persist_load_msg(rk_shard *s, rk_msg *m)
{
    int end = m->type == MSG_LOAD_END;
    rdb_load_handle_msg(s, m);
    if (end)
        aof_hold_loading(s);
}

int persist_snapshot_busy(const rk_shard *s)
{
    return s->persist && s->persist->coord && s->persist->coord->job != 0;
}

void persist_snapshot_slot_freed(void)
{
    /* Job 0 wakes only the waiters that wait for the slot (job 0). */
    broadcast_status(0, 1, 0, 0);
}

/* ---- a snapshot for replicas ------------------------------------------- */

/* The request comes back unanswered: busy (the slot is taken; retry), or
 * failed with err. The fd of a diskless request is ours to close. */
static void repl_refuse(persist_repl_snap_msg *q, int busy, const char *err)
{
    q->ok = 0;
    q->busy = busy;
    snprintf(q->err, sizeof q->err, "%s", err);
    if (q->diskless && q->fd >= 0) {
        close(q->fd);
        q->fd = -1;
    }
    q->m.type = MSG_REPL_SNAP_CUT;
    rk_mailbox_push(q->reply_to, &q->m);
}

/* Shard 0 (the coordinator of every OP_REPL transaction): the slot was
 * claimed, or not; start the sink and take the cut. */
static void repl_claim_step(rk_txn *t, unsigned char verdict)
{
    save_op *op = t->arg;
    persist_repl_snap_msg *q = op->repl;
    rk_shard *s = t->coord;
    save_coord *co = s->persist->coord;
    assert(s->id == 0 && q);
    if (verdict != CLAIM_STARTED) {
        op->repl = NULL;
        repl_refuse(q, verdict == CLAIM_BUSY || verdict == CLAIM_AOF_BUSY,
                    verdict ? "a snapshot is in progress" : "out of memory");
        finish_with(t, NULL);
        return;
    }
    memcpy(&op->job, t->out[0].data + 1, sizeof op->job);
    rdb_sink_target tg = {
        .dir = ".",
        .final_name = q->diskless ? NULL : q->path,
        .shard_first = 0,
        .nshards = g_nshards,
        .format = SINK_FMT_RDB,
        .checksum = s->cfg.rdbchecksum,
        .result_shard = 0,
        .result_type = MSG_SAVE_RESULT,
        .to_fd = q->diskless,
        .out_fd = q->diskless ? q->fd : -1,
    };
    char err[160];
    op->sink = rdb_sink_start_target(op->job, &tg, err, sizeof err);
    if (!op->sink) {
        /* Nothing was cut: the slot is free again at once. */
        rk_log(LL_WARNING, "Can't start the snapshot for replication: %s", err);
        co->job = 0;
        op->repl = NULL;
        repl_refuse(q, 0, err);
        persist_snapshot_slot_freed();
        finish_with(t, NULL);
        return;
    }
    if (q->diskless)
        q->fd = -1; /* the sink's now */
    co->repl_save_job = op->job;
    co->repl_job = q->job;
    co->repl_reply_to = q->reply_to;
    co->repl_diskless = q->diskless;
    txn_hop(t, cut_hop, cut_step);
}

/* After the cut: the positions back to the repl thread, then the sink may
 * begin (its end therefore reaches reply_to after the CUT). */
static void repl_cut_step(rk_txn *t, rdb_aux_info *aux)
{
    save_op *op = t->arg;
    persist_repl_snap_msg *q = op->repl;
    assert(q);
    op->repl = NULL;
    if (q->repl_offset >= 0) {
        aux->repl_stream_db = q->repl_stream_db;
        snprintf(aux->repl_id, sizeof aux->repl_id, "%.40s", q->repl_id);
        aux->repl_offset = q->repl_offset;
    } else {
        aux->omit_repl = 1;
    }
    q->ok = 1;
    q->busy = 0;
    q->err[0] = '\0';
    for (int i = 0; i < g_nshards; i++) {
        const rk_buf *o = &t->out[i];
        if (o->len != 2 * sizeof(uint64_t)) {
            /* The shard could not report its position: the cut is useless
             * to the repl thread, the sink still needs its start to end. */
            q->ok = 0;
            snprintf(q->err, sizeof q->err, "out of memory at the cut of shard %d", i);
            t->coord->persist->coord->repl_reply_to = NULL; /* no DONE after a failed CUT */
            break;
        }
        memcpy(&q->cut_pos[i], o->data + sizeof(int64_t), sizeof q->cut_pos[i]);
    }
    rk_log(LL_NOTICE, q->diskless ? "Background RDB transfer started" : "Background saving started");
    q->m.type = MSG_REPL_SNAP_CUT;
    rk_mailbox_push(q->reply_to, &q->m);
    rdb_sink_send_start(op->sink, aux);
    finish_with(t, NULL);
}
/* The slot is free: the sink's end goes on to the repl thread. */
static void repl_forward(rk_shard *s, save_result *r)
{
    save_coord *co = s->persist->coord;
    assert(s->id == 0 && co->repl_save_job == r->job);
    rk_mailbox *to = co->repl_reply_to;
    r->m.type = MSG_REPL_SNAP_DONE;
    r->job = co->repl_job;
    co->repl_save_job = 0;
    co->repl_job = 0;
    co->repl_reply_to = NULL;
    if (to)
        rk_mailbox_push(to, &r->m);
    else
        free(r);
}

/* A diskless snapshot ended: only the slot and the timing change (Redis's
 * backgroundSaveDoneHandlerSocket), no LASTSAVE, no status, no counters. */
static void repl_diskless_done(rk_shard *s, save_result *r)
{
    save_coord *co = s->persist->coord;
    if (r->ok) {
        co->last_cow = r->cow_bytes;
        rk_log(LL_NOTICE, "Background RDB transfer terminated with success (%llu bytes)",
               (unsigned long long)r->bytes);
    } else {
        rk_log(LL_WARNING, "Background transfer error: %s", r->err[0] ? r->err : "unknown");
    }
    co->job = 0;
    co->last_time_sec = (rk_mstime() - co->start_ms + 500) / 1000;
    repl_forward(s, r);
    persist_snapshot_slot_freed(); /* SAVE, SHUTDOWN... that waited for the slot */
}

void persist_repl_snapshot_msg(rk_shard *s, rk_msg *m)
{
    assert(s->id == 0 && m->type == MSG_REPL_SNAP_REQ);
    persist_repl_snap_msg *q = (persist_repl_snap_msg *)m;
    assert(q->reply_to);
    save_coord *co = s->persist->coord;
    q->ok = 0;
    q->busy = 0;
    q->err[0] = '\0';
    memset(q->cut_pos, 0, sizeof q->cut_pos);
    if (co->job || aof_rewrite_busy(s)) {
        repl_refuse(q, 1, "a snapshot is in progress");
        return;
    }
    if (s->loading.active) {
        repl_refuse(q, 1, "loading the dataset");
        return;
    }
    if (q->diskless ? q->fd < 0 : !memchr(q->path, '\0', sizeof q->path) || !q->path[0]) {
        repl_refuse(q, 0, q->diskless ? "no descriptor to write to" : "no file name");
        return;
    }
    save_op *op = calloc(1, sizeof *op);
    rk_slice name = RK_SLICE("save");
    rk_txn *t = op ? txn_new(NULL, save_command(), txn_all_shards(), 1, &name) : NULL;
    if (!t) {
        free(op);
        repl_refuse(q, 0, "out of memory");
        return;
    }
    op->kind = OP_REPL;
    op->notify_fd = -1;
    op->repl = q;
    op->repl_diskless = q->diskless;
    t->arg = op;
    t->arg_free = free;
    /* The claim hop decides again: a save transaction queued before this
     * one may take the slot first. */
    txn_start(t, claim_hop, claim_step);
}

void persist_install_plugins(void)
{
    g_shard_plugins.persist_msg = persist_msg;
    g_shard_plugins.load_msg = persist_load_msg;
    g_shard_plugins.on_start = persist_on_start;
    g_shard_plugins.on_tick = persist_on_tick;
    g_shard_plugins.before_wait = snapshot_before_wait;
    g_shard_plugins.info_persistence = persist_info;
    g_shard_plugins.on_stop = persist_on_stop;
    g_shard_plugins.debug_reload = debug_reload;
}

int persist_save_before_exit(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    exit_request *q = calloc(1, sizeof *q);
    if (!q) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    q->m.type = MSG_SAVE_REQUEST;
    q->notify_fd = fds[1];
    shard_send(0, &q->m);
    char verdict = persist_verdict_wait(fds[0]);
    close(fds[0]);
    close(fds[1]);
    if (verdict == 'y')
        rk_log(LL_NOTICE, "DB saved on disk");
    return verdict == 'y' || verdict == 'n' ? 0 : -1;
}
