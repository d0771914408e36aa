/* aof.c: the AOF coordinator (see aof.h and docs/aof.md: "Rewrite",
 * "Recovery", "File life cycle", "Positions").
 *
 * Owns:
 *  - on shard 0, the coordinator (aof_coord): the state OFF / WAIT_REWRITE
 *    (turning on: a rewrite must succeed first) / ON, the manifest exactly
 *    as it is on disk, the next base and INCR sequence numbers, the running
 *    rewrite, the rewrite statistics, and what every shard last reported
 *    about its writer (for INFO and the automatic rewrite);
 *  - on every shard, its rk_aof: the WAITAOF waits it coordinates (for its
 *    own clients), the WAITAOF requests parked until its writer opens, the
 *    loading hold of the start-up, and its last report.
 * Threads: each shard touches only its own rk_aof; the coordinator only on
 * shard 0 (its messages, its tick, the steps of the transactions it
 * coordinates: every AOF transaction is coordinated by shard 0). The
 * start-up thread hands shard 0 a request and waits on a pipe; the sinks
 * report to shard 0 by message.
 *
 * A rewrite (BGREWRITEAOF, the automatic one, turning on, start-up):
 *  1. shard 0 claims the snapshot slot it shares with BGSAVE (persist.c;
 *     one snapshot per shard at a time) and starts one sink per shard;
 *  2. one all-shard transaction takes the cut: each shard switches its
 *     writer to a new INCR file (or opens one when turning on) and starts
 *     its snapshot into its own sink; in the step, still with every shard
 *     paused, shard 0 writes the manifest with the new INCR files appended
 *     (old INCR files get `end`), so a crash from here on loses nothing;
 *  3. when every sink reported success: the manifest with the new bases,
 *     the old files as history; the history files are removed; the manifest
 *     again without them. Any failure: the new bases are removed and the
 *     manifest of step 2 stays in charge.
 * With appendonly no (BGREWRITEAOF only, as Redis 7.0) there is no writer:
 * the cut only starts the snapshots (every base at position 0) and step 3
 * commits a manifest of the bases alone, every older file as history.
 *
 * Manifest writes are blocking (temp, fsync, rename, directory fsync) and
 * happen on shard 0 only: at start-up (clients held by -LOADING), at a cut
 * and at a rewrite's end. */
#include "storage/aof.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/client.h"
#include "core/function.h"
#include "core/log.h"
#include "core/multikey.h"
#include "core/txn.h"
#include "io/reply.h"
#include "storage/aof_load.h"
#include "storage/aof_manifest.h"
#include "storage/aof_writer.h"
#include "storage/persist.h"
#include "storage/rdb_sink.h"
#include "storage/snapshot.h"

/* The coordinator's messages (MSG_AOF_FIRST+16 .. +31). */
enum {
    MSG_AOF_REWRITE_RESULT = MSG_AOF_FIRST + 16, /* sink -> shard 0: a save_result */
    MSG_AOF_REPORT,       /* shard -> shard 0: its writer's sizes */
    MSG_AOF_KICK,         /* shard 0 -> itself: look at the schedule now */
    MSG_AOF_OPEN,         /* shard 0 -> shard: open the writer (start-up) */
    MSG_AOF_OPEN_DONE,    /* shard -> shard 0 */
    MSG_AOF_RELEASE,      /* shard 0 -> shard: start-up done, serve clients */
    MSG_AOF_WAIT,         /* WAITAOF: home -> shard */
    MSG_AOF_WAIT_DONE,    /* shard -> home */
    MSG_AOF_REWRITE_END,  /* shard 0 -> shard: the rewrite ended */
    MSG_AOF_STARTUP,      /* start-up thread -> shard 0 */
    MSG_AOF_CLOSE,        /* shard 0 -> shard: the AOF is off, close the writer */
    MSG_AOF_STOP_SNAPSHOT, /* shard 0 -> shard: the AOF is off, end the rewrite's snapshot */
    MSG_AOF_REWRITE_REQ,  /* any thread -> shard 0: the data was replaced, rewrite (aof_request_rewrite) */
    MSG_AOF_COORD_LAST_,
};
_Static_assert((int)MSG_AOF_COORD_LAST_ <= (int)MSG_AOF_LAST + 1, "aof.c's messages stay in their range");

/* Redis's CONFIG_BGSAVE_RETRY_DELAY: turning on retries a failed rewrite after this. */
#define AOF_RETRY_DELAY_MS 5000
/* A shard reports its writer to shard 0 at most this often (INFO, auto rewrite). */
#define AOF_REPORT_MS 100
/* WAITAOF requests a shard parks while its writer is not open yet (turning on). */
#define AOF_MAX_PARKED 1024
/* AOF rewrite job numbers: apart from persist.c's save jobs (sink names, chunks). */
#define AOF_JOB_BASE (1ull << 62)
#define AOF_PATH_MAX 1024
#define AOF_NAME_MAX 256

enum aof_state { AOF_OFF = 0, AOF_ON, AOF_WAIT_REWRITE };
/* RW_BG: the AOF is on, the writers switch at the cut. RW_TURN_ON and
 * RW_STARTUP: every writer opens at the cut and the AOF is on once the bases
 * exist. RW_OFF: BGREWRITEAOF with appendonly no (Redis 7.0 does it too):
 * bases only, no writer, no INCR file; the manifest lists the bases. */
enum rw_kind { RW_BG, RW_TURN_ON, RW_STARTUP, RW_OFF };

/* What a shard last told shard 0. */
typedef struct shard_report {
    rk_msg m;
    int shard;
    uint64_t pos;
    uint64_t buffered;
    uint64_t delayed_fsync;
    int write_error;
    int fsync_pending;
    int broken;           /* the writer fell behind its journal: only a rewrite repairs it */
} shard_report;

typedef struct shard_view {
    shard_report r;
    uint64_t base_size;   /* bytes of its current base */
    uint64_t base_pos;    /* stream position of its base's cut */
} shard_view;

/* A running rewrite (shard 0). The cut hop reads it (immutable then). */
typedef struct rewrite {
    uint64_t job;
    enum rw_kind kind;
    int fmt;                       /* SNAP_FMT_RDB / SNAP_FMT_COMMANDS */
    long long base_seq, incr_seq;
    rdb_sink *sink[RK_MAX_SHARDS];
    int sinks;                     /* sinks started = results expected */
    int results;
    uint64_t cut[RK_MAX_SHARDS];
    int switched[RK_MAX_SHARDS];   /* the shard's writer moved to the new INCR file */
    uint64_t bytes[RK_MAX_SHARDS];
    uint64_t cow;
    int failed;
    int abandoned;                 /* the AOF was turned off meanwhile */
    char err[256];
    int64_t start_ms;
} rewrite;

typedef struct startup_req startup_req;

typedef struct aof_coord {
    enum aof_state state;
    int ready;                     /* start-up finished: the tick may act */
    char dir[AOF_PATH_MAX];
    char prefix[AOF_NAME_MAX];
    char manifest_name[AOF_NAME_MAX];
    aof_manifest am;               /* as on disk */
    int am_dirty;                  /* a manifest write failed: retried every tick */
    long long next_base_seq, next_incr_seq;
    int scheduled;                 /* a rewrite waits for the slot (or the retry time) */
    int64_t retry_at_ms;
    rewrite *rw;
    uint64_t next_job;
    int am_known;                  /* am reflects the disk (0 until read when started with appendonly no) */
    int last_ok;
    int64_t last_time_sec;
    uint64_t rewrites, consecutive_failures, last_cow;
    uint64_t base_size_total;      /* Redis's aof_rewrite_base_size */
    shard_view sv[RK_MAX_SHARDS];
    startup_req *startup;          /* the start-up request being served */
    int opens_pending;
    int open_failed;
    int am_changed;
} aof_coord;

/* WAITAOF on its home shard. One per client at most (the command is a
 * barrier for its client), so bounded by the clients of the shard. */
typedef struct aof_wait {
    struct aof_wait *next;
    uint64_t id;
    rk_client *client;             /* kept alive by client_txn_begin */
    long numlocal, numreplicas;
    int64_t deadline_ms;           /* 0: forever */
    int pending;                   /* shards yet to answer */
    int all_durable;
    int resp;
} aof_wait;

typedef struct wait_msg {
    rk_msg m;
    uint64_t id;
    int home;
    int durable;
    struct wait_msg *next;         /* parked list on the shard */
} wait_msg;

typedef struct rk_aof {
    int hold_loading;              /* start-up: keep loading set until released */
    aof_wait *waits;
    uint64_t next_wait_id;
    wait_msg *parked;
    int nparked;
    shard_report last;             /* last report sent */
    int64_t last_report_ms;
    aof_coord *coord;              /* shard 0 only */
} rk_aof;

typedef struct open_msg {
    rk_msg m;
    char name[AOF_NAME_MAX];
    uint64_t start_pos;
    int ok;
    int shard;
    char err[200];
} open_msg;

struct startup_req {
    rk_msg m;
    int found;                     /* aof_load_at_startup returned 0 */
    aof_load_result res;
    int notify_fd;
    int ok;
    char err[512];
};

/* Cut hop answer. */
typedef struct cut_answer {
    int switched;
    uint64_t cut;
    int64_t used_mem;
    char err[160];
} cut_answer;

static aof_coord *coord0(void)
{
    return g_shards[0]->aof->coord;
}

static const rk_command *aof_command(void)
{
    return cmd_lookup(RK_SLICE("bgrewriteaof"));
}

static void path_in_dir(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void remove_file(const char *dir, const char *name)
{
    char path[AOF_PATH_MAX + AOF_NAME_MAX];
    path_in_dir(path, sizeof path, dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
        rk_log(LL_WARNING, "Can't remove the AOF file %s: %s", path, strerror(errno));
}

static uint64_t file_size(const char *dir, const char *name)
{
    char path[AOF_PATH_MAX + AOF_NAME_MAX];
    struct stat st;
    path_in_dir(path, sizeof path, dir, name);
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- the manifest -------------------------------------------------------- */

static int write_manifest(aof_coord *co, const aof_manifest *am)
{
    char err[300];
    if (aof_manifest_write(am, co->dir, co->manifest_name, err, sizeof err) != 0) {
        rk_log(LL_WARNING, "Can't persist the AOF manifest: %s", err);
        return -1;
    }
    return 0;
}

/* Replaces co->am with m (taking it over) after m was written; on a failed
 * write m is dropped and -1 returned (the disk still holds co->am). */
static int commit_manifest(aof_coord *co, aof_manifest *m)
{
    if (write_manifest(co, m) != 0) {
        aof_manifest_release(m);
        return -1;
    }
    aof_manifest_release(&co->am);
    co->am = *m;
    aof_manifest_init(m);
    co->am_dirty = 0;
    return 0;
}

static int manifest_copy(aof_manifest *dst, const aof_manifest *src)
{
    aof_manifest_init(dst);
    dst->ringkv = src->ringkv;
    for (size_t i = 0; i < src->n; i++)
        if (aof_manifest_add(dst, &src->files[i]) != 0) {
            aof_manifest_release(dst);
            return -1;
        }
    return 0;
}

/* The next sequence numbers: above every one the manifest names. */
static void seqs_from_manifest(aof_coord *co)
{
    long long b = 0, i = 0;
    for (size_t k = 0; k < co->am.n; k++) {
        const aof_info *f = &co->am.files[k];
        if (f->type == AOF_TYPE_INCR)
            i = f->seq > i ? f->seq : i;
        else
            b = f->seq > b ? f->seq : b;
    }
    /* History entries keep their type letter 'h' only: both counters
     * move past them so no name is ever reused. */
    long long m = b > i ? b : i;
    co->next_base_seq = (b > m ? b : m) + 1;
    co->next_incr_seq = (i > m ? i : m) + 1;
}

/* The sequence number of one of our file names (<prefix>.s<k>.<seq>.…),
 * or 0 when the name is not one of ours. */
static long long seq_of_our_name(const aof_coord *co, const char *n)
{
    size_t plen = strlen(co->prefix);
    if (strncmp(n, co->prefix, plen) != 0 || n[plen] != '.' || n[plen + 1] != 's')
        return 0;
    const char *p = n + plen + 2;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '.' || *p < '1' || *p > '9')
        return 0;
    char *end;
    errno = 0;
    long long seq = strtoll(p, &end, 10);
    return errno == 0 && *end == '.' ? seq : 0;
}

/* Moves both sequence counters past every file of ours in the directory,
 * listed or not: a new name never meets an older file (a writer opened on
 * it would append to that file's bytes). */
static void seqs_past_dir_files(aof_coord *co)
{
    DIR *d = opendir(co->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long long seq = seq_of_our_name(co, e->d_name);
        if (seq >= co->next_base_seq)
            co->next_base_seq = seq + 1;
        if (seq >= co->next_incr_seq)
            co->next_incr_seq = seq + 1;
    }
    closedir(d);
}

/* Started with appendonly no, the coordinator reads the directory's
 * manifest when a rewrite first needs it (BGREWRITEAOF, turning on), as
 * Redis 7.0 reads its manifest at start-up whatever appendonly says: the
 * files it names become that rewrite's history and are removed after the
 * commit. An unreadable manifest is logged and replaced by the rewrite's
 * (its files are then left alone, never loaded again). Blocking, small. */
static void learn_manifest(aof_coord *co)
{
    char mpath[AOF_PATH_MAX + AOF_NAME_MAX], err[512];
    struct stat st;
    path_in_dir(mpath, sizeof mpath, co->dir, co->manifest_name);
    aof_manifest_release(&co->am);
    aof_manifest_init(&co->am);
    if (stat(mpath, &st) == 0 && aof_manifest_load(&co->am, mpath, err, sizeof err) != 0)
        rk_log(LL_WARNING, "The AOF manifest can't be read, the rewrite replaces it: %s", err);
    if (co->am.n == 0)
        co->am.ringkv = 1;
    seqs_from_manifest(co);
    seqs_past_dir_files(co);
    co->am_known = 1;
}

static aof_info *last_incr(aof_manifest *am, int shard)
{
    aof_info *last = NULL;
    for (size_t k = 0; k < am->n; k++)
        if (am->files[k].type == AOF_TYPE_INCR && am->files[k].shard == shard)
            last = &am->files[k];
    return last;
}

static int add_entry(aof_manifest *am, const char *name, long long seq, char type, int shard, uint64_t start,
                     uint64_t end)
{
    aof_info fi;
    memset(&fi, 0, sizeof fi);
    fi.name = (char *)name;
    fi.seq = seq;
    fi.type = type;
    fi.shard = shard;
    fi.start = start;
    fi.end = end;
    return aof_manifest_add(am, &fi);
}

static void incr_name(const aof_coord *co, char *buf, size_t cap, int shard, long long seq)
{
    aof_name_incr(buf, cap, co->prefix, shard, seq);
}

static void base_name(const aof_coord *co, char *buf, size_t cap, int shard, long long seq, int fmt)
{
    aof_name_base(buf, cap, co->prefix, shard, seq, fmt == SNAP_FMT_RDB);
}

/* Files in the AOF directory that the manifest does not list and that are
 * ours (a crash's leftovers: temp files, bases and INCR files of a rewrite
 * that never committed) are removed, so the directory holds exactly what
 * the manifest names. */
static void remove_unlisted_files(aof_coord *co)
{
    DIR *d = opendir(co->dir);
    if (!d)
        return;
    size_t plen = strlen(co->prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        int ours = strncmp(n, "temp-", 5) == 0 ||
                   (strncmp(n, co->prefix, plen) == 0 && n[plen] == '.' && n[plen + 1] == 's' &&
                    n[plen + 2] >= '0' && n[plen + 2] <= '9');
        if (!ours || strcmp(n, co->manifest_name) == 0)
            continue;
        int listed = 0;
        for (size_t k = 0; k < co->am.n && !listed; k++)
            listed = strcmp(co->am.files[k].name, n) == 0;
        if (listed)
            continue;
        rk_log(LL_NOTICE, "Removing the unlisted AOF file %s", n);
        remove_file(co->dir, n);
    }
    closedir(d);
}

/* ---- start-up and release ------------------------------------------------ */

static void startup_finish(aof_coord *co, int ok, const char *err)
{
    startup_req *q = co->startup;
    assert(q);
    co->startup = NULL;
    if (ok) {
        co->ready = 1;
        remove_unlisted_files(co);
        for (int i = 0; i < g_nshards; i++) {
            rk_msg *m = calloc(1, sizeof *m);
            if (!m)
                abort(); /* a shard would answer -LOADING forever */
            m->type = MSG_AOF_RELEASE;
            shard_send(i, m);
        }
    }
    q->ok = ok;
    snprintf(q->err, sizeof q->err, "%s", err ? err : "");
    int fd = q->notify_fd;
    /* q belongs to the start-up thread again once it reads the byte. */
    persist_verdict_send(fd, ok ? 'y' : 'f');
}

void aof_mark_loading(void)
{
    int64_t now = rk_mstime();
    for (int i = 0; i < g_nshards; i++) {
        assert(g_shards[i] && !g_shards[i]->loop);
        g_shards[i]->loading.active = 1;
        g_shards[i]->loading.start_ms = now;
        g_shards[i]->loading.eta_seconds = 1;
    }
}

/* After a loader's END message cleared the flag: keep it while held. */
static void keep_loading(rk_shard *s)
{
    if (s->aof && s->aof->hold_loading)
        s->loading.active = 1;
}

void aof_hold_loading(rk_shard *s)
{
    keep_loading(s);
}

/* ---- WAITAOF parking (shard side) -------------------------------------- */

static void wait_answer(rk_shard *s, wait_msg *w, int durable)
{
    (void)s;
    w->m.type = MSG_AOF_WAIT_DONE;
    w->durable = durable;
    w->next = NULL;
    shard_send(w->home, &w->m);
}

static void wait_durable_cb(rk_shard *s, void *ud)
{
    wait_answer(s, ud, 1);
}

static void wait_on_writer(rk_shard *s, wait_msg *w)
{
    if (aof_writer_when_durable(s, wait_durable_cb, w) != 0)
        wait_answer(s, w, 0); /* AOF_WRITER_MAX_WAITERS reached */
}

/* The writer opened: the parked requests wait for it now. */
static void unpark_waits(rk_shard *s)
{
    rk_aof *a = s->aof;
    wait_msg *list = a->parked;
    a->parked = NULL;
    a->nparked = 0;
    while (list) {
        wait_msg *w = list;
        list = w->next;
        if (s->aofw)
            wait_on_writer(s, w);
        else
            wait_answer(s, w, 0);
    }
}

static void on_wait_request(rk_shard *s, wait_msg *w)
{
    rk_aof *a = s->aof;
    if (s->aofw) {
        wait_on_writer(s, w);
    } else if (s->cfg.appendonly && a->nparked < AOF_MAX_PARKED) {
        w->next = a->parked; /* turning on: answered when the writer opens */
        a->parked = w;
        a->nparked++;
    } else {
        wait_answer(s, w, 0);
    }
}

/* ---- the rewrite --------------------------------------------------------- */

static void rewrite_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    const rewrite *rw = t->arg;
    cut_answer a;
    memset(&a, 0, sizeof a);
    rdb_sink *sink = rw->sink[s->id];
    if (sink) {
        char name[AOF_NAME_MAX];
        aof_name_incr(name, sizeof name, s->cfg.appendfilename, s->id, rw->incr_seq);
        int rc;
        if (rw->kind == RW_OFF) {
            rc = -1; /* no writer to switch or open: only the snapshot */
            assert(!s->aofw);
        } else if (rw->kind == RW_BG) {
            rc = s->aofw ? aof_writer_switch(s, name, &a.cut, a.err, sizeof a.err) : -1;
            if (!s->aofw)
                snprintf(a.err, sizeof a.err, "the AOF is not open on shard %d", s->id);
        } else {
            if (s->aofw)
                aof_writer_close(s); /* a turning-on retry closed it already; a safety net */
            rc = aof_writer_open(s, s->cfg.appenddirname, name, 0, a.err, sizeof a.err);
            a.cut = 0;
            if (rc == 0)
                unpark_waits(s);
        }
        a.switched = rc == 0;
        if (rc == 0) {
            aof_writer_set_rewriting(s, 1);
            rk_log(LL_NOTICE, "Creating AOF incr file %s on %s", name,
                   rw->kind == RW_STARTUP ? "server start" : "background rewrite");
        }
        /* Always fed, so that the sink ends and reports (a failed switch
         * fails the rewrite as a whole in the step). */
        snapshot_begin_fmt(s, sink, rw->job, rw->fmt);
    } else {
        snprintf(a.err, sizeof a.err, "no sink for shard %d", s->id);
    }
    a.used_mem = rk_alloc_thread_used();
    if (rk_buf_append(out, &a, sizeof a) != 0)
        rk_buf_clear(out);
}

/* Whether a rewrite of this kind opens or switches the writers at its cut. */
static int rw_has_writers(const rewrite *rw)
{
    return rw->kind != RW_OFF;
}

/* Whether a rewrite of this kind turns the AOF on when it succeeds. */
static int rw_turns_on(const rewrite *rw)
{
    return rw->kind == RW_TURN_ON || rw->kind == RW_STARTUP;
}

/* The manifest at the cut: every shard that switched gets its new INCR
 * file, its previous one gets `end`. */
static int manifest_at_cut(aof_coord *co, const rewrite *rw)
{
    aof_manifest m;
    if (manifest_copy(&m, &co->am) != 0)
        return -1;
    for (int k = 0; k < g_nshards; k++) {
        if (!rw->switched[k])
            continue;
        aof_info *prev = last_incr(&m, k);
        if (prev)
            prev->end = rw->cut[k];
        char name[AOF_NAME_MAX];
        incr_name(co, name, sizeof name, k, rw->incr_seq);
        if (add_entry(&m, name, rw->incr_seq, AOF_TYPE_INCR, k, rw->cut[k], AOF_POS_NONE) != 0) {
            aof_manifest_release(&m);
            return -1;
        }
    }
    if (commit_manifest(co, &m) != 0) {
        /* The new INCR files get writes the disk's manifest does not name:
         * keep the intended manifest and retry every tick. */
        aof_manifest tmp;
        if (manifest_copy(&tmp, &co->am) == 0) {
            for (int k = 0; k < g_nshards; k++) {
                if (!rw->switched[k])
                    continue;
                aof_info *prev = last_incr(&tmp, k);
                if (prev)
                    prev->end = rw->cut[k];
                char name[AOF_NAME_MAX];
                incr_name(co, name, sizeof name, k, rw->incr_seq);
                add_entry(&tmp, name, rw->incr_seq, AOF_TYPE_INCR, k, rw->cut[k], AOF_POS_NONE);
            }
            aof_manifest_release(&co->am);
            co->am = tmp;
        }
        co->am_dirty = 1;
        return -1;
    }
    return 0;
}

static void rewrite_step(rk_txn *t)
{
    rewrite *rw = t->arg;
    aof_coord *co = coord0();
    rdb_aux_info aux;
    memset(&aux, 0, sizeof aux);
    aux.ctime = rk_mstime() / 1000;
    aux.aof_base = 1;
    memcpy(aux.repl_id, g_run_id, 40);
    aux.repl_id[40] = '\0';
    for (int k = 0; k < g_nshards; k++) {
        cut_answer a;
        if (t->out[k].len != sizeof a) {
            rw->failed = 1;
            snprintf(rw->err, sizeof rw->err, "out of memory at the cut on shard %d", k);
            continue;
        }
        memcpy(&a, t->out[k].data, sizeof a);
        aux.used_mem += a.used_mem;
        rw->cut[k] = a.cut;
        rw->switched[k] = a.switched;
        if (!a.switched && rw_has_writers(rw)) {
            rw->failed = 1;
            snprintf(rw->err, sizeof rw->err, "%s", a.err);
        }
    }
    /* Still every shard paused: nothing lands in a new INCR file before
     * the manifest names it. Turning on writes no manifest yet: the new
     * files count only once their bases exist. */
    if (rw->kind == RW_BG && manifest_at_cut(co, rw) != 0)
        rk_log(LL_WARNING, "The AOF manifest could not name the new INCR files yet: retrying");
    for (int k = 0; k < g_nshards; k++) {
        if (!rw->sink[k])
            continue;
        /* Shard 0's base carries the function libraries (every shard
         * holds the same, as of this cut: all are paused). */
        aux.functions = NULL;
        aux.functions_len = 0;
        if (k == 0) {
            rk_buf fns;
            rk_buf_init(&fns);
            if (function_codes_blob(t->coord, &fns) != 0) {
                rk_buf_free(&fns);
                aux.functions_len = RDB_AUX_FUNCTIONS_OOM;
            } else {
                aux.functions = fns.data;
                aux.functions_len = fns.len;
            }
        }
        rdb_sink_send_start(rw->sink[k], &aux);
    }
    rk_log(LL_NOTICE, "Background append only file rewriting started");
    txn_finish(t);
}

static void rewrite_free(rewrite *rw)
{
    free(rw);
}

static void finish_rewrite(rk_shard *s, rewrite *rw);

/* Shard 0: starts a rewrite of `kind` now (the slot is free). */
static int start_rewrite(rk_shard *s, enum rw_kind kind)
{
    aof_coord *co = s->aof->coord;
    assert(s->id == 0 && !co->rw);
    rewrite *rw = calloc(1, sizeof *rw);
    if (!rw)
        return -1;
    rw->job = AOF_JOB_BASE + ++co->next_job;
    rw->kind = kind;
    rw->fmt = s->cfg.aof_use_rdb_preamble ? SNAP_FMT_RDB : SNAP_FMT_COMMANDS;
    rw->start_ms = rk_mstime();
    if ((kind == RW_TURN_ON || kind == RW_OFF) && mkdir(co->dir, 0755) != 0 && errno != EEXIST) {
        rw->failed = 1;
        snprintf(rw->err, sizeof rw->err, "Can't create the AOF directory %.160s: %s", co->dir, strerror(errno));
    }
    if (!rw->failed && !co->am_known)
        learn_manifest(co);
    rw->base_seq = co->next_base_seq++;
    /* Redis opens no INCR file for a rewrite with the AOF off. */
    rw->incr_seq = rw_has_writers(rw) ? co->next_incr_seq++ : 0;
    rk_slice name = RK_SLICE("bgrewriteaof");
    rk_txn *t = txn_new(NULL, aof_command(), txn_all_shards(), 1, &name);
    if (!t) {
        free(rw);
        return -1;
    }
    for (int k = 0; k < g_nshards; k++) {
        char bname[AOF_NAME_MAX], err[200];
        base_name(co, bname, sizeof bname, k, rw->base_seq, rw->fmt);
        rdb_sink_target tg = {
            .dir = co->dir,
            .final_name = bname,
            .shard_first = k,
            .nshards = 1,
            .format = rw->fmt == SNAP_FMT_RDB ? SINK_FMT_RDB : SINK_FMT_COMMANDS,
            .checksum = s->cfg.rdbchecksum,
            .incremental_fsync = s->cfg.aof_rewrite_incremental_fsync,
            .result_shard = 0,
            .result_type = MSG_AOF_REWRITE_RESULT,
            .aof_timestamp = s->cfg.aof_timestamp_enabled,
        };
        rw->sink[k] = NULL;
        if (rw->failed)
            continue; /* no sink: nothing to wait for from this shard */
        rw->sink[k] = rdb_sink_start_target(rw->job, &tg, err, sizeof err);
        if (!rw->sink[k]) {
            rw->failed = 1;
            snprintf(rw->err, sizeof rw->err, "%s", err);
        } else {
            rw->sinks++;
        }
    }
    co->rw = rw;
    co->scheduled = 0;
    if (kind != RW_STARTUP)
        co->rewrites++;
    if (kind == RW_STARTUP)
        for (int k = 0; k < g_nshards; k++) {
            char bname[AOF_NAME_MAX];
            base_name(co, bname, sizeof bname, k, rw->base_seq, rw->fmt);
            rk_log(LL_NOTICE, "Creating AOF base file %s on server start", bname);
        }
    if (rw->sinks == 0) {
        /* Nothing to cut into: fail now. */
        txn_finish(t); /* never started: finish releases nothing */
        finish_rewrite(s, rw);
        return 0;
    }
    t->arg = rw;
    txn_start(t, rewrite_hop, rewrite_step);
    return 0;
}

static void send_to_all(int type)
{
    for (int i = 0; i < g_nshards; i++) {
        rk_msg *m = calloc(1, sizeof *m);
        if (!m)
            abort(); /* a shard would keep a wrong AOF state */
        m->type = type;
        shard_send(i, m);
    }
}

/* The manifest after a successful rewrite: the new bases, the old files as
 * history (Redis's order: history is removed after this is durable), the
 * INCR files the cut started (none with the AOF off: every INCR file is
 * then history, as Redis's markRewrittenIncrAofAsHistory without aof_fd).
 * A Redis manifest's files (migration) cannot share a ringkv manifest:
 * they are listed in `gone` instead. */
static int manifest_after(aof_coord *co, const rewrite *rw, aof_manifest *m, aof_manifest *gone)
{
    aof_manifest_init(m);
    aof_manifest_init(gone);
    m->ringkv = 1;
    for (int k = 0; k < g_nshards; k++) {
        char name[AOF_NAME_MAX];
        base_name(co, name, sizeof name, k, rw->base_seq, rw->fmt);
        if (add_entry(m, name, rw->base_seq, AOF_TYPE_BASE, k, rw->cut[k], rw->cut[k]) != 0)
            return -1;
    }
    for (size_t i = 0; i < co->am.n; i++) {
        const aof_info *f = &co->am.files[i];
        if (rw_has_writers(rw) && f->type == AOF_TYPE_INCR && f->seq == rw->incr_seq && co->am.ringkv)
            continue; /* the new INCR file, added below */
        aof_info h = *f;
        h.type = AOF_TYPE_HIST;
        if (!co->am.ringkv || f->shard >= g_nshards) {
            if (aof_manifest_add(gone, &h) != 0)
                return -1;
        } else if (aof_manifest_add(m, &h) != 0) {
            return -1;
        }
    }
    for (int k = 0; rw_has_writers(rw) && k < g_nshards; k++) {
        char name[AOF_NAME_MAX];
        incr_name(co, name, sizeof name, k, rw->incr_seq);
        if (add_entry(m, name, rw->incr_seq, AOF_TYPE_INCR, k, rw->cut[k], AOF_POS_NONE) != 0)
            return -1;
    }
    return 0;
}

static void remove_history(aof_coord *co, const aof_manifest *m)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->files[i].type != AOF_TYPE_HIST)
            continue;
        rk_log(LL_NOTICE, "Removing the history file %s in the background", m->files[i].name);
        remove_file(co->dir, m->files[i].name);
    }
}

static int manifest_without_history(const aof_manifest *src, aof_manifest *dst)
{
    aof_manifest_init(dst);
    dst->ringkv = src->ringkv;
    for (size_t i = 0; i < src->n; i++)
        if (src->files[i].type != AOF_TYPE_HIST && aof_manifest_add(dst, &src->files[i]) != 0) {
            aof_manifest_release(dst);
            return -1;
        }
    return 0;
}

/* Every sink of a successful rewrite reported: commit. 0, or -1 (the old
 * manifest stays in charge). */
static int commit_rewrite(aof_coord *co, const rewrite *rw)
{
    aof_manifest m, gone;
    if (manifest_after(co, rw, &m, &gone) != 0) {
        aof_manifest_release(&m);
        aof_manifest_release(&gone);
        return -1;
    }
    if (commit_manifest(co, &m) != 0) {
        aof_manifest_release(&gone);
        return -1;
    }
    remove_history(co, &co->am);
    remove_history(co, &gone);
    aof_manifest_release(&gone);
    aof_manifest clean;
    if (manifest_without_history(&co->am, &clean) == 0 && commit_manifest(co, &clean) != 0)
        co->am_dirty = 1; /* the history lines stay until a later write: harmless, never loaded */
    return 0;
}

static void discard_new_files(aof_coord *co, const rewrite *rw, int incr_too)
{
    for (int k = 0; k < g_nshards; k++) {
        char name[AOF_NAME_MAX];
        base_name(co, name, sizeof name, k, rw->base_seq, rw->fmt);
        remove_file(co->dir, name);
        if (incr_too) {
            incr_name(co, name, sizeof name, k, rw->incr_seq);
            remove_file(co->dir, name);
        }
    }
}

static void finish_rewrite(rk_shard *s, rewrite *rw)
{
    aof_coord *co = s->aof->coord;
    assert(co->rw == rw);
    /* Turned off meanwhile: Redis kills its child (SIGUSR1), which counts
     * as neither success nor failure. */
    int ok = !rw->failed && !rw->abandoned;
    if (ok)
        rk_log(LL_NOTICE, "Background AOF rewrite terminated with success");
    if (ok && commit_rewrite(co, rw) != 0) {
        ok = 0;
        snprintf(rw->err, sizeof rw->err, "the manifest could not be written");
    }
    co->rw = NULL;
    if (rw->kind != RW_STARTUP && !rw->abandoned) {
        /* The start-up's base is not a rewrite for INFO (Redis: aof_rewrites 0). */
        co->last_time_sec = (rk_mstime() - rw->start_ms + 500) / 1000;
        co->last_cow = rw->cow;
        co->last_ok = ok;
        co->consecutive_failures = ok ? 0 : co->consecutive_failures + 1;
    }
    if (ok) {
        co->base_size_total = 0;
        for (int k = 0; k < g_nshards; k++) {
            co->sv[k].base_size = rw->bytes[k];
            co->sv[k].base_pos = rw->cut[k];
            co->base_size_total += rw->bytes[k];
        }
        if (co->state == AOF_WAIT_REWRITE && rw_turns_on(rw)) {
            co->state = AOF_ON;
            aof_writer_sync_txns(1);
        }
        rk_log(LL_NOTICE, "Background AOF rewrite finished successfully");
    } else if (rw->abandoned) {
        /* turn_off closed the writers already; a turning-on started since
         * waits for this one only (the tick starts it). */
        discard_new_files(co, rw, rw_turns_on(rw));
    } else {
        rk_log(LL_WARNING, "Background AOF rewrite terminated with error: %s", rw->err[0] ? rw->err : "unknown");
        /* Turning on: the new INCR files follow no base; close and drop them,
         * the retry opens fresh ones. A rewrite of an AOF that is on keeps
         * them: the manifest of the cut names them. */
        int turning_on = rw_turns_on(rw);
        discard_new_files(co, rw, turning_on);
        if (turning_on) {
            send_to_all(MSG_AOF_CLOSE);
            if (co->state == AOF_WAIT_REWRITE && rw->kind == RW_TURN_ON) {
                co->scheduled = 1;
                co->retry_at_ms = rk_mstime() + AOF_RETRY_DELAY_MS;
            }
        }
    }
    if (rw->kind != RW_STARTUP || ok)
        send_to_all(MSG_AOF_REWRITE_END);
    if (rw->kind == RW_STARTUP && co->startup) {
        char err[300];
        snprintf(err, sizeof err, "the AOF rewrite at start-up failed: %s", rw->err);
        startup_finish(co, ok, ok ? NULL : err);
    }
    rewrite_free(rw);
    persist_snapshot_slot_freed();
}

static void on_rewrite_result(rk_shard *s, save_result *r)
{
    aof_coord *co = s->aof->coord;
    rewrite *rw = co->rw;
    assert(rw && rw->job == r->job && r->shard >= 0 && r->shard < g_nshards);
    rw->results++;
    rw->bytes[r->shard] = r->bytes;
    rw->cow += r->cow_bytes;
    if (!r->ok) {
        rw->failed = 1;
        snprintf(rw->err, sizeof rw->err, "shard %d: %s", r->shard, r->err[0] ? r->err : "unknown");
    }
    free(r);
    if (rw->results == rw->sinks)
        finish_rewrite(s, rw);
}

int aof_rewrite_busy(const rk_shard *s)
{
    return s->aof && s->aof->coord && s->aof->coord->rw != NULL;
}

/* ---- start-up (shard 0) -------------------------------------------------- */

static void startup_fail(aof_coord *co, const char *fmt, const char *arg)
{
    char err[512];
    snprintf(err, sizeof err, fmt, arg);
    startup_finish(co, 0, err);
}

static void on_open_done(rk_shard *s, open_msg *o)
{
    aof_coord *co = s->aof->coord;
    if (!o->ok) {
        co->open_failed = 1;
        rk_log(LL_WARNING, "Can't open the AOF file %s: %s", o->name, o->err);
    }
    free(o);
    if (--co->opens_pending > 0)
        return;
    if (co->open_failed) {
        startup_fail(co, "%s", "an AOF file could not be opened for appending");
        return;
    }
    if (co->am_changed && write_manifest(co, &co->am) != 0) {
        startup_fail(co, "%s", "the AOF manifest could not be written");
        return;
    }
    co->state = AOF_ON;
    aof_writer_sync_txns(1);
    startup_finish(co, 1, NULL);
}

/* The AOF is ringkv's, for this shard count: every shard continues its
 * last INCR file (or gets a first one). */
static void startup_continue(aof_coord *co, const aof_load_result *res)
{
    char err[512];
    char mpath[AOF_PATH_MAX + AOF_NAME_MAX];
    path_in_dir(mpath, sizeof mpath, co->dir, co->manifest_name);
    aof_manifest_release(&co->am);
    if (aof_manifest_load(&co->am, mpath, err, sizeof err) != 0) {
        startup_fail(co, "%s", err);
        return;
    }
    seqs_from_manifest(co);
    co->base_size_total = 0;
    for (int k = 0; k < g_nshards; k++) {
        const aof_info *b = aof_manifest_base(&co->am, k);
        co->sv[k].base_size = b ? file_size(co->dir, b->name) : 0;
        co->sv[k].base_pos = b && b->start != AOF_POS_NONE ? b->start : 0;
        co->base_size_total += co->sv[k].base_size;
    }
    long long seq = co->next_incr_seq;
    co->opens_pending = g_nshards;
    for (int k = 0; k < g_nshards; k++) {
        open_msg *o = calloc(1, sizeof *o);
        if (!o)
            abort(); /* start-up cannot limp on */
        o->m.type = MSG_AOF_OPEN;
        o->shard = k;
        if (res->tail[k].present) {
            snprintf(o->name, sizeof o->name, "%s", res->tail[k].name);
            o->start_pos = res->tail[k].start_pos;
        } else {
            incr_name(co, o->name, sizeof o->name, k, seq);
            const aof_info *b = aof_manifest_base(&co->am, k);
            o->start_pos = b && b->end != AOF_POS_NONE ? b->end : co->sv[k].base_pos;
            if (add_entry(&co->am, o->name, seq, AOF_TYPE_INCR, k, o->start_pos, AOF_POS_NONE) != 0)
                abort();
            co->am_changed = 1;
            rk_log(LL_NOTICE, "Creating AOF incr file %s on server start", o->name);
        }
        shard_send(k, &o->m);
    }
    if (co->am_changed)
        co->next_incr_seq = seq + 1;
}

static void on_startup(rk_shard *s, startup_req *q)
{
    aof_coord *co = s->aof->coord;
    co->startup = q;
    const aof_load_result *res = &q->res;
    if (q->found && res->source == AOF_SRC_RINGKV && res->manifest_shards == g_nshards) {
        startup_continue(co, res);
        return;
    }
    /* Another layout (or none): rewrite into ringkv's before serving. */
    char mpath[AOF_PATH_MAX + AOF_NAME_MAX], err[512];
    path_in_dir(mpath, sizeof mpath, co->dir, co->manifest_name);
    aof_manifest_release(&co->am);
    aof_manifest_init(&co->am);
    if (q->found && (res->source == AOF_SRC_RINGKV || res->source == AOF_SRC_REDIS_DIR)) {
        if (aof_manifest_load(&co->am, mpath, err, sizeof err) != 0) {
            startup_fail(co, "%s", err);
            return;
        }
        rk_log(LL_NOTICE, "Rewriting the AOF loaded from %s into %d shard(s)",
               res->source == AOF_SRC_REDIS_DIR ? "Redis's appendonlydir" : "another shard count", g_nshards);
    } else if (q->found && res->source == AOF_SRC_LEGACY) {
        rk_log(LL_NOTICE, "The legacy AOF %s was loaded; it is no longer used (the AOF is now in %s)",
               co->prefix, co->dir);
    }
    co->am.ringkv = co->am.n == 0 ? 1 : co->am.ringkv;
    seqs_from_manifest(co);
    co->state = AOF_WAIT_REWRITE;
    if (start_rewrite(s, RW_STARTUP) != 0)
        startup_fail(co, "%s", "out of memory starting the AOF rewrite");
}

/* ---- the tick (shard 0's schedule, every shard's report) ---------------- */

static void report(rk_shard *s)
{
    rk_aof *a = s->aof;
    int64_t now = rk_mstime();
    if (now - a->last_report_ms < AOF_REPORT_MS)
        return;
    shard_report r;
    memset(&r, 0, sizeof r);
    r.shard = s->id;
    if (s->aofw) {
        aof_writer_info info;
        aof_writer_get_info(s, &info);
        r.pos = info.pos;
        r.buffered = info.buffered;
        r.delayed_fsync = info.delayed_fsync;
        r.write_error = info.write_error;
        r.fsync_pending = aof_writer_pending(s) != 0;
        r.broken = info.broken;
    }
    a->last_report_ms = now;
    if (memcmp(&r, &a->last, sizeof r) == 0)
        return;
    a->last = r;
    if (s->id == 0) {
        s->aof->coord->sv[0].r = r;
        return;
    }
    shard_report *m = malloc(sizeof *m);
    if (!m)
        return; /* a later tick reports */
    *m = r;
    m->m.type = MSG_AOF_REPORT;
    shard_send(0, &m->m);
}

static uint64_t current_size(const aof_coord *co)
{
    uint64_t sz = 0;
    for (int k = 0; k < g_nshards; k++) {
        const shard_view *v = &co->sv[k];
        sz += v->base_size + (v->r.pos > v->base_pos ? v->r.pos - v->base_pos : 0);
    }
    return sz;
}

static void turn_off(aof_coord *co)
{
    co->state = AOF_OFF;
    co->scheduled = 0;
    aof_writer_sync_txns(0);
    send_to_all(MSG_AOF_CLOSE);
    if (co->rw && rw_has_writers(co->rw)) {
        /* Redis kills its rewrite child here. A rewrite with the AOF off
         * never needed the AOF: it goes on. */
        rk_log(LL_NOTICE, "Stopping the running AOF rewrite: the AOF was turned off");
        co->rw->abandoned = 1;
        send_to_all(MSG_AOF_STOP_SNAPSHOT);
    }
}

static void coord_tick(rk_shard *s)
{
    aof_coord *co = s->aof->coord;
    if (!co->ready || s->loading.active)
        return;
    if (co->am_dirty && !co->rw && write_manifest(co, &co->am) == 0)
        co->am_dirty = 0;
    if (!s->cfg.appendonly && co->state != AOF_OFF) {
        turn_off(co);
        return;
    }
    if (s->cfg.appendonly && co->state == AOF_OFF) {
        co->state = AOF_WAIT_REWRITE;
        co->scheduled = 1;
        co->retry_at_ms = 0;
    }
    if (co->rw || persist_snapshot_busy(s))
        return;
    if (co->scheduled && rk_mstime() >= co->retry_at_ms) {
        enum rw_kind kind = co->state == AOF_ON ? RW_BG : co->state == AOF_OFF ? RW_OFF : RW_TURN_ON;
        if (start_rewrite(s, kind) != 0)
            co->scheduled = 1;
        return;
    }
    /* Journal bytes a writer never got are only in memory: a new base
     * holds them again (writes are refused meanwhile). */
    for (int k = 0; co->state == AOF_ON && k < g_nshards; k++) {
        if (co->sv[k].r.broken) {
            rk_log(LL_WARNING, "The AOF of shard %d fell behind its journal: rewriting it", k);
            start_rewrite(s, RW_BG);
            return;
        }
    }
    /* Redis's rule (serverCron): grown past min-size and by percentage over
     * the size the last rewrite left. */
    if (co->state == AOF_ON && s->cfg.auto_aof_rewrite_percentage > 0) {
        uint64_t cur = current_size(co);
        if (cur > (uint64_t)s->cfg.auto_aof_rewrite_min_size) {
            uint64_t base = co->base_size_total ? co->base_size_total : 1;
            long long growth = (long long)(cur * 100 / base) - 100;
            if (growth >= s->cfg.auto_aof_rewrite_percentage) {
                rk_log(LL_NOTICE, "Starting automatic rewriting of AOF on %lld%% growth", growth);
                start_rewrite(s, RW_BG);
            }
        }
    }
}

/* ---- WAITAOF (home shard) ------------------------------------------------ */

static void wait_reply(aof_wait *w, int acklocal)
{
    rk_buf b;
    rk_buf_init(&b);
    rk_reply r = {&b, w->resp};
    reply_array(&r, 2);
    reply_int(&r, acklocal);
    reply_int(&r, 0); /* no replication yet: no replica acknowledged */
    client_txn_done(w->client, &b);
    rk_buf_free(&b);
}

static void wait_unlink(rk_aof *a, aof_wait *w)
{
    for (aof_wait **p = &a->waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

static void on_wait_done(rk_shard *s, wait_msg *m)
{
    rk_aof *a = s->aof;
    aof_wait *w = a->waits;
    while (w && w->id != m->id)
        w = w->next;
    int durable = m->durable;
    free(m);
    if (!w)
        return; /* it timed out already */
    w->pending--;
    w->all_durable &= durable;
    if (w->pending > 0)
        return;
    /* Replicas are asked for and none exists yet: only the timeout (or
     * never, with timeout 0) answers, as Redis without replicas. */
    if (w->numreplicas > 0)
        return;
    wait_unlink(a, w);
    wait_reply(w, w->all_durable);
    free(w);
}

static void wait_timeouts(rk_shard *s)
{
    rk_aof *a = s->aof;
    int64_t now = rk_mstime();
    aof_wait **p = &a->waits;
    while (*p) {
        aof_wait *w = *p;
        if (w->deadline_ms && now >= w->deadline_ms) {
            *p = w->next;
            wait_reply(w, w->pending == 0 && w->all_durable);
            free(w);
        } else {
            p = &w->next;
        }
    }
}

static void coord_error(rk_client *c, const char *msg)
{
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_error(&r, msg);
    shard_count_error(c->home, msg);
}

static int parse_ll(rk_slice v, long long *out)
{
    char buf[32];
    if (v.len == 0 || v.len >= sizeof buf)
        return -1;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end || (buf[0] == '0' && v.len > 1) || buf[0] == '+' || buf[0] == ' ')
        return -1;
    *out = x;
    return 0;
}

void aof_waitaof_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    (void)argc;
    rk_shard *s = c->home;
    long long numlocal, numreplicas, timeout;
    /* Redis 7.2's argument checks, in its order. */
    if (parse_ll(argv[1], &numlocal) != 0) {
        coord_error(c, "ERR value is not an integer or out of range");
        return;
    }
    if (numlocal < 0 || numlocal > 1) {
        coord_error(c, "ERR value is out of range, value must between 0 and 1");
        return;
    }
    if (parse_ll(argv[2], &numreplicas) != 0) {
        coord_error(c, "ERR value is not an integer or out of range");
        return;
    }
    if (numreplicas < 0) {
        coord_error(c, "ERR value is out of range, must be positive");
        return;
    }
    if (parse_ll(argv[3], &timeout) != 0) {
        coord_error(c, "ERR timeout is not an integer or out of range");
        return;
    }
    if (timeout < 0) {
        coord_error(c, "ERR timeout is negative");
        return;
    }
    if (numlocal && !s->cfg.appendonly) {
        coord_error(c, "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.");
        return;
    }
    /* Inside MULTI it never blocks (Redis: CLIENT_DENY_BLOCKING); nor when
     * nothing is asked for. The answer then is this shard's view. */
    if (client_exec_txn(c) || (numlocal == 0 && numreplicas == 0)) {
        rk_reply r = {client_reply_buf(c), c->resp};
        reply_array(&r, 2);
        reply_int(&r, s->aofw && !aof_writer_pending(s) ? 1 : 0);
        reply_int(&r, 0);
        return;
    }
    aof_wait *w = calloc(1, sizeof *w);
    wait_msg *msgs[RK_MAX_SHARDS];
    int n = 0;
    if (w) {
        for (n = 0; n < g_nshards; n++) {
            msgs[n] = calloc(1, sizeof *msgs[n]);
            if (!msgs[n])
                break;
        }
    }
    if (!w || n < g_nshards || client_txn_begin(c) != 0) {
        for (int i = 0; i < n; i++)
            free(msgs[i]);
        free(w);
        coord_error(c, "ERR out of memory");
        return;
    }
    rk_aof *a = s->aof;
    w->id = ++a->next_wait_id;
    w->client = c;
    w->numlocal = numlocal;
    w->numreplicas = numreplicas;
    w->deadline_ms = timeout ? rk_mstime() + timeout : 0;
    w->pending = g_nshards;
    w->all_durable = 1;
    w->resp = c->resp;
    w->next = a->waits;
    a->waits = w;
    for (int i = 0; i < g_nshards; i++) {
        msgs[i]->m.type = MSG_AOF_WAIT;
        msgs[i]->id = w->id;
        msgs[i]->home = s->id;
        shard_send(i, &msgs[i]->m);
    }
}

/* ---- BGREWRITEAOF -------------------------------------------------------- */

enum { BG_STARTED = 1, BG_SCHEDULED, BG_BUSY };

static void bg_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)t;
    aof_coord *co = s->aof->coord;
    unsigned char v;
    if (co->rw) {
        v = BG_BUSY;
    } else if (persist_snapshot_busy(s) || !co->ready) {
        co->scheduled = 1;
        co->retry_at_ms = 0;
        v = BG_SCHEDULED;
    } else {
        co->scheduled = 1; /* claimed: the kick below starts it */
        co->retry_at_ms = 0;
        v = BG_STARTED;
        rk_msg *m = calloc(1, sizeof *m);
        if (m) {
            m->type = MSG_AOF_KICK;
            shard_send(0, m);
        } /* else the tick starts it */
    }
    rk_buf_append(out, &v, 1);
}

static void bg_step(rk_txn *t)
{
    unsigned char v = t->out[0].len == 1 ? (unsigned char)t->out[0].data[0] : 0;
    switch (v) {
    case BG_STARTED:
        reply_simple(&t->r, "Background append only file rewriting started");
        break;
    case BG_SCHEDULED:
        reply_simple(&t->r, "Background append only file rewriting scheduled");
        break;
    case BG_BUSY:
        reply_error(&t->r, "ERR Background append only file rewriting already in progress");
        shard_count_error(t->coord, "ERR Background append only file rewriting already in progress");
        break;
    default:
        reply_error(&t->r, "ERR out of memory");
        break;
    }
    txn_finish(t);
}

void aof_bgrewriteaof_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    rk_txn *t = txn_new(c, cmd, 1ull, argc, argv);
    if (!t) {
        coord_error(c, "ERR out of memory");
        return;
    }
    txn_start(t, bg_hop, bg_step);
}

/* ---- messages and plugins ------------------------------------------------ */

int aof_request_rewrite(void)
{
    rk_msg *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->type = MSG_AOF_REWRITE_REQ;
    shard_send(0, m);
    return 0;
}

static void aof_msg(rk_shard *s, rk_msg *m)
{
    if (m->type >= MSG_AOF_FIRST + 8 && m->type <= MSG_AOF_FIRST + 15) {
        int end = m->type == MSG_AOF_LOAD_END;
        aof_load_handle_msg(s, m); /* m is the loader's again */
        if (end)
            keep_loading(s);
        return;
    }
    if (m->type < MSG_AOF_FIRST + 8) {
        /* The writer's own messages (loop completions use callbacks). */
        assert(0 && "unexpected aof_writer message");
        return;
    }
    switch (m->type) {
    case MSG_AOF_REWRITE_RESULT:
        assert(s->id == 0);
        on_rewrite_result(s, (save_result *)m);
        break;
    case MSG_AOF_REPORT: {
        shard_report *r = (shard_report *)m;
        assert(s->id == 0 && r->shard > 0 && r->shard < g_nshards);
        s->aof->coord->sv[r->shard].r = *r;
        free(r);
        break;
    }
    case MSG_AOF_KICK:
        free(m);
        coord_tick(s);
        break;
    case MSG_AOF_OPEN: {
        open_msg *o = (open_msg *)m;
        o->ok = aof_writer_open(s, s->cfg.appenddirname, o->name, o->start_pos, o->err, sizeof o->err) == 0;
        if (o->ok)
            unpark_waits(s);
        o->m.type = MSG_AOF_OPEN_DONE;
        shard_send(0, &o->m);
        break;
    }
    case MSG_AOF_OPEN_DONE:
        on_open_done(s, (open_msg *)m);
        break;
    case MSG_AOF_RELEASE:
        free(m);
        s->aof->hold_loading = 0;
        s->loading.active = 0;
        break;
    case MSG_AOF_WAIT:
        on_wait_request(s, (wait_msg *)m);
        break;
    case MSG_AOF_WAIT_DONE:
        on_wait_done(s, (wait_msg *)m);
        break;
    case MSG_AOF_REWRITE_END:
        free(m);
        if (s->aofw)
            aof_writer_set_rewriting(s, 0);
        break;
    case MSG_AOF_STARTUP:
        on_startup(s, (startup_req *)m);
        break;
    case MSG_AOF_CLOSE:
        free(m);
        if (s->aofw)
            aof_writer_close(s);
        unpark_waits(s); /* answered: not durable */
        break;
    case MSG_AOF_REWRITE_REQ:
        free(m);
        assert(s->id == 0);
        /* Queued behind a running rewrite too: that one's cut may predate
         * the new data. */
        if (s->aof->coord->state != AOF_OFF) {
            s->aof->coord->scheduled = 1;
            s->aof->coord->retry_at_ms = 0;
            coord_tick(s);
        }
        break;
    case MSG_AOF_STOP_SNAPSHOT:
        /* The abandoned rewrite holds the snapshot slot until every sink
         * reported, and whatever starts the next snapshot comes from shard
         * 0 after this message: a running snapshot here is that rewrite's
         * (or, if its cut hop has not run yet, it runs to its end). Its
         * sink fails and reports. */
        free(m);
        if (s->snap)
            snapshot_abandon(s);
        break;
    default:
        assert(0 && "unknown MSG_AOF_* message");
    }
}

static void aof_tick(rk_shard *s)
{
    if (s->aofw)
        aof_writer_on_tick(s);
    wait_timeouts(s);
    report(s);
    if (s->id == 0)
        coord_tick(s);
}

static void aof_before_wait(rk_shard *s)
{
    if (s->aofw)
        aof_writer_before_wait(s);
}

int aof_on_start(rk_shard *s)
{
    rk_aof *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->hold_loading = s->cfg.appendonly;
    if (s->id == 0) {
        aof_coord *co = calloc(1, sizeof *co);
        if (!co) {
            free(a);
            return -1;
        }
        aof_manifest_init(&co->am);
        co->am.ringkv = 1;
        snprintf(co->dir, sizeof co->dir, "%s", s->cfg.appenddirname);
        snprintf(co->prefix, sizeof co->prefix, "%s", s->cfg.appendfilename);
        aof_name_manifest(co->manifest_name, sizeof co->manifest_name, co->prefix);
        co->last_ok = 1;
        co->last_time_sec = -1;
        co->next_base_seq = co->next_incr_seq = 1;
        /* With appendonly no the AOF starts OFF and the tick may act at
         * once; with yes, aof_startup's request makes it ready. */
        co->ready = !s->cfg.appendonly;
        co->am_known = s->cfg.appendonly; /* else learn_manifest, when needed */
        a->coord = co;
    }
    s->aof = a;
    return 0;
}

void aof_on_stop(rk_shard *s)
{
    /* Redis's prepareForShutdown kills the rewrite child with this line;
     * here persist.c abandons the shards' snapshots next, and the next
     * start removes what the rewrite left (temp files, unlisted bases). */
    if (s->id == 0 && s->aof && s->aof->coord && s->aof->coord->rw)
        rk_log(LL_WARNING, "There is a child rewriting the AOF. Killing it!");
    if (s->aofw) {
        if (s->id == 0)
            rk_log(LL_NOTICE, "Calling fsync() on the AOF file.");
        aof_writer_close(s);
    }
}

void aof_install_plugins(void)
{
    g_shard_plugins.aof_msg = aof_msg;
    g_shard_plugins.aof_on_tick = aof_tick;
    g_shard_plugins.aof_before_wait = aof_before_wait;
}

/* ---- INFO ---------------------------------------------------------------- */

void aof_info_lines(rk_shard *s, char *buf, size_t cap)
{
    const aof_coord *co = s->aof->coord;
    size_t len = strlen(buf);
    if (len >= cap)
        return;
    int enabled = co->state != AOF_OFF || s->cfg.appendonly;
    /* The process-wide error is current; the shards' reports lag up to 100 ms. */
    int write_err = aof_writer_global_error() != 0;
    uint64_t buffered = 0, delayed = 0, pending_fsync = 0;
    for (int k = 0; k < g_nshards; k++) {
        write_err |= co->sv[k].r.write_error != 0;
        buffered += co->sv[k].r.buffered;
        delayed += co->sv[k].r.delayed_fsync;
        pending_fsync += co->sv[k].r.fsync_pending ? 1 : 0;
    }
    int64_t now = rk_mstime();
    int n = snprintf(buf + len, cap - len,
                     "aof_enabled:%d\r\naof_rewrite_in_progress:%d\r\naof_rewrite_scheduled:%d\r\n"
                     "aof_last_rewrite_time_sec:%lld\r\naof_current_rewrite_time_sec:%lld\r\n"
                     "aof_last_bgrewrite_status:%s\r\naof_rewrites:%llu\r\n"
                     "aof_rewrites_consecutive_failures:%llu\r\naof_last_write_status:%s\r\n"
                     "aof_last_cow_size:%llu\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                     enabled, co->rw ? 1 : 0, co->scheduled && !co->rw ? 1 : 0, (long long)co->last_time_sec,
                     co->rw ? (long long)((now - co->rw->start_ms) / 1000) : -1LL, co->last_ok ? "ok" : "err",
                     (unsigned long long)co->rewrites, (unsigned long long)co->consecutive_failures,
                     write_err ? "err" : "ok", (unsigned long long)co->last_cow);
    if (n < 0 || (size_t)n >= cap - len || !enabled)
        return;
    len += (size_t)n;
    snprintf(buf + len, cap - len,
             "aof_current_size:%llu\r\naof_base_size:%llu\r\naof_pending_rewrite:%d\r\n"
             "aof_buffer_length:%llu\r\naof_pending_bio_fsync:%llu\r\naof_delayed_fsync:%llu\r\n",
             (unsigned long long)current_size(co), (unsigned long long)co->base_size_total,
             co->scheduled && !co->rw ? 1 : 0, (unsigned long long)buffered, (unsigned long long)pending_fsync,
             (unsigned long long)delayed);
}

/* ---- start-up (loading thread) ------------------------------------------- */

int aof_startup(const rk_config *cfg, char *err, size_t errlen)
{
    assert(rk_this_shard == NULL);
    if (mkdir(cfg->appenddirname, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "Can't create the AOF directory %s: %s", cfg->appenddirname, strerror(errno));
        return -1;
    }
    startup_req *q = calloc(1, sizeof *q);
    int fds[2];
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(q);
        return -1;
    }
    int rc = aof_load_at_startup(cfg->appenddirname, cfg->appendfilename, cfg->aof_load_truncated, &q->res, err,
                                 errlen);
    if (rc < 0) {
        close(fds[0]);
        close(fds[1]);
        free(q);
        return -1;
    }
    q->found = rc == 0;
    if (q->found)
        txn_seq_at_least(q->res.max_txn_seq + 1);
    q->m.type = MSG_AOF_STARTUP;
    q->notify_fd = fds[1];
    shard_send(0, &q->m);
    char verdict = persist_verdict_wait(fds[0]);
    close(fds[0]);
    close(fds[1]);
    int ok = verdict == 'y';
    if (!ok)
        snprintf(err, errlen, "%s", verdict ? q->err : "no answer from shard 0");
    free(q);
    return ok ? 0 : -1;
}
