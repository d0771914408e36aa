/* master.c: the replication thread and its master side: the merged stream
 * (the shards' journal feeds through repl/merge.c), the backlog, the
 * replids and offsets, our replicas' sockets (adopted after PSYNC/SYNC),
 * full syncs at one snapshot cut, WAIT, min-replicas, ROLE and INFO.
 *
 * Thread: the replication thread only (its own rk_loop, no listening
 * socket). Every structure here belongs to it; shards and the snapshot
 * sinks talk to it only by mailbox messages (repl/repl.h). The replica side
 * (repl/replica.c) runs on this thread too, through repl_int.h.
 *
 * Bounds: feed messages per shard at most REPL_FEED_CREDITS (held here
 * while the merge is full); the merge buffers at most MERGE_PENDING per
 * shard; every replica's unsent output plus its kept stream is bounded by
 * client-output-buffer-limit replica (dropped beyond, as Redis); an RDB
 * transfer puts at most BULK_BOUND unsent bytes on any replica before it
 * waits; replica input at most REPLICA_QBUF bytes; held WAITs one per
 * blocked client. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/db.h"
#include "core/journal.h"
#include "core/log.h"
#include "io/resp.h"
#include "repl/merge.h"
#include "repl/repl_int.h"
#include "storage/persist.h"
#include "storage/rdb_sink.h"

#define TICK_MS 100
#define BULK_BOUND ((size_t)4 << 20)      /* unsent RDB bytes per replica before we wait */
#define BULK_CHUNK ((size_t)256 << 10)
#define REPLICA_QBUF ((size_t)1 << 20)    /* a replica only sends REPLCONF/PING */
#define MERGE_PENDING (JOURNAL_DEFAULT_LIMIT + (size_t)REPL_FEED_CREDITS * REPL_FEED_CHUNK)
#define SNAP_RETRY_MS 1000

static const char k_ping[] = "*1\r\n$4\r\nPING\r\n";
static const char k_getack[] = "*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";

enum { UD_REPLICA = 1, UD_PIPE = 2 };
/* Redis's replica states (INFO: wait_bgsave, send_bulk, online). */
enum { RS_WAIT_START = 0, RS_WAIT_END, RS_SEND_BULK, RS_ONLINE };
/* A full sync's phases. */
enum { SY_PAUSING = 0, SY_REQUESTED, SY_CUT, SY_RUNNING };

struct rsync;

typedef struct rreplica {
    int kind; /* UD_REPLICA: first, the loop's conn_ud */
    struct rreplica *next;
    rk_conn *conn;
    int closing;
    int state;
    int capa;
    int is_psync;
    int port;
    char ip[64];
    char peer[64];
    uint64_t client_id;
    struct rsync *sync;
    int announced;              /* +FULLRESYNC (or nothing, for SYNC) sent: the stream is kept from here */
    int start_on_ack;           /* diskless: the kept stream goes after the first ACK (Redis) */
    rk_buf kept;                /* the stream since the sync's offset, until online */
    long long ack_off;
    int64_t ack_ms;
    int64_t last_io_ms;
    int64_t soft_since_ms;
    long long bulk_pos;         /* disk transfer: bytes of the file sent */
    int64_t created_ms;
    rk_buf in;
    resp_parser parser;
    resp_args args;
} rreplica;

typedef struct pipe_ud {
    int kind; /* UD_PIPE: first, the loop's conn_ud */
    struct rsync *sy; /* NULL once the sync let go of it: on_close frees it */
} pipe_ud;

typedef struct rsync {
    int diskless;
    int paused_apply;           /* a replica's master link is paused for us */
    int phase;
    uint64_t job;
    int64_t retry_at_ms;        /* busy: when to ask again */
    long long offset;           /* the cut's offset, -1 until known */
    char eofmark[41];
    int pipe_wfd;               /* diskless: the sink's end until the request takes it */
    rk_conn *pipe;              /* diskless: our end */
    pipe_ud *pud;
    int pipe_paused;
    int pipe_eof;
    int done, ok;               /* SNAP_DONE arrived, and its result */
    int file_fd;
    long long file_size;
    int nreplicas;
    int have_cut;
    uint64_t cut_pos[RK_MAX_SHARDS];
} rsync;

typedef struct wait_state {
    uint64_t token;
    uint64_t epoch;
    long numreplicas;
    int64_t deadline_ms;        /* 0: forever */
    int answered;               /* POSITIONS answers in */
    uint64_t pos[RK_MAX_SHARDS];
    long long target;           /* -1 until the merge passed the positions */
} wait_state;

struct repl_master {
    rreplica *replicas;
    int nreplicas;
    int64_t no_replicas_since_ms;
    /* the feeds and the merge (a master with a backlog) */
    int feeds_on;
    uint64_t epoch;
    repl_merge *merge;
    int merge_hold;             /* a cut was requested: feed, do not step, until its positions are known */
    int fresh;                  /* before the feeds' first cut: their starts differ per shard, so what
                                   comes before it is discarded, never sent (no replica needs it) */
    int started[RK_MAX_SHARDS];
    uint64_t start_pos[RK_MAX_SHARDS];
    repl_feed_msg *q[RK_MAX_SHARDS][REPL_FEED_CREDITS + 1];
    int qh[RK_MAX_SHARDS], qn[RK_MAX_SHARDS];
    rk_buf out;
    /* the full sync (one at a time) */
    rsync *sync;
    uint64_t next_job;
    /* WAIT */
    repl_cmd_msg *waits;
    uint64_t next_token;
    int getack;
    /* stats and timers */
    long long sync_full, sync_partial_ok, sync_partial_err;
    int64_t last_ping_ms, last_second_ms;
    rk_repl_view sent_view;
    int view_sent;
};

static repl_server g_srv;
static struct repl_master g_master;
static pthread_t g_thread;
static int g_running;

struct rsync;
static void sync_maybe_finish(repl_server *srv);
static void sync_free(repl_server *srv, struct rsync *sy);
static void sync_fail(repl_server *srv, struct rsync *sy, const char *why);
static void replica_on_data(void *ud, const char *p, size_t len);
static void check_waits(repl_server *srv);

/* ---- small helpers ----------------------------------------------------------- */

static void random_hex(char *dst, size_t n) {
    unsigned char raw[64];
    size_t nb = (n + 1) / 2;
    assert(nb <= sizeof(raw));
    if (getrandom(raw, nb, 0) != (ssize_t)nb)
        for (size_t i = 0; i < nb; i++) raw[i] = (unsigned char)(rand() ^ (int)rk_ustime());
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) dst[i] = hex[(raw[i / 2] >> ((i & 1) * 4)) & 15];
    dst[n] = '\0';
}

static const char *replica_name(const rreplica *r, char *buf, size_t cap) {
    const char *ip = r->ip[0] ? r->ip : r->peer;
    char host[64];
    snprintf(host, sizeof(host), "%s", ip);
    if (!r->ip[0]) { /* peer is "ip:port": keep the ip */
        char *colon = strrchr(host, ':');
        if (colon) *colon = '\0';
    }
    if (r->port) snprintf(buf, cap, "%s:%d", host, r->port);
    else snprintf(buf, cap, "%s:<unknown-replica-port>", host);
    return buf;
}

static void replica_ip(const rreplica *r, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", r->ip[0] ? r->ip : r->peer);
    if (!r->ip[0]) {
        char *colon = strrchr(buf, ':');
        if (colon) *colon = '\0';
    }
}

static void to_shard(int shard, rk_msg *m) { rk_mailbox_push(&g_shards[shard]->mailbox, m); }

/* ---- life cycle ------------------------------------------------------------ */

/* The mailbox exists from the first use on any thread (a shard's INFO may
 * come while the data loads, before the thread starts); messages wait in it
 * until the thread runs. */
static pthread_once_t g_mb_once = PTHREAD_ONCE_INIT;
static int g_mb_ok;
static void mailbox_init_once(void) { g_mb_ok = rk_mailbox_init(&g_srv.mb) == 0; }

rk_mailbox *repl_mailbox(void) {
    pthread_once(&g_mb_once, mailbox_init_once);
    return &g_srv.mb;
}

void repl_send(rk_msg *m) { rk_mailbox_push(repl_mailbox(), m); }

void repl_cmd_answer(repl_cmd_msg *m) {
    m->m.type = MSG_REPL_CMD_DONE;
    to_shard(m->home, &m->m);
}

void master_new_replid(repl_server *srv) {
    random_hex(srv->replid, REPL_ID_LEN);
    memset(srv->replid2, '0', REPL_ID_LEN);
    srv->replid2[REPL_ID_LEN] = '\0';
    srv->second_repl_offset = -1;
}

void master_shift_replid(repl_server *srv) {
    memcpy(srv->replid2, srv->replid, sizeof(srv->replid2));
    srv->second_repl_offset = srv->master_repl_offset + 1;
    random_hex(srv->replid, REPL_ID_LEN);
    rk_log(LL_NOTICE, "Setting secondary replication ID to %s, valid up to offset: %lld. New replication ID is %s",
           srv->replid2, srv->second_repl_offset, srv->replid);
}

static long long backlog_cfg_size(const repl_server *srv) {
    long long sz = srv->cfg.repl_backlog_size;
    return sz < REPL_BACKLOG_MIN_SIZE ? REPL_BACKLOG_MIN_SIZE : sz;
}

static int ensure_backlog(repl_server *srv) {
    if (srv->backlog) return 0;
    srv->backlog = backlog_create(backlog_cfg_size(srv), srv->master_repl_offset);
    return srv->backlog ? 0 : -1;
}

/* ---- the stream to replicas ------------------------------------------------- */

static size_t replica_obuf(const rreplica *r) { return r->kept.len + (r->conn ? rk_conn_unsent(r->conn) : 0); }

static void replica_close(repl_server *srv, rreplica *r, int after_flush) {
    (void)srv;
    if (r->closing) return;
    r->closing = 1;
    if (r->conn) rk_conn_close(r->conn, after_flush);
}

/* client-output-buffer-limit replica: hard at once, soft for soft seconds.
 * 1 when the replica was dropped. */
static int check_obuf(repl_server *srv, rreplica *r, int64_t now) {
    const rk_obuf_limit *l = &srv->cfg.obuf_limits[CLIENT_CLASS_REPLICA];
    size_t used = replica_obuf(r);
    int over = 0;
    if (l->hard_bytes && used >= (size_t)l->hard_bytes) over = 1;
    if (l->soft_bytes && used >= (size_t)l->soft_bytes) {
        if (r->soft_since_ms == 0) r->soft_since_ms = now;
        else if (now - r->soft_since_ms > l->soft_seconds * 1000) over = 1;
    } else {
        r->soft_since_ms = 0;
    }
    if (!over) return 0;
    rk_log(LL_WARNING,
           "Client id=%llu addr=%s laddr=%s fd=%d name= age=%lld idle=0 flags=S db=0 omem=%zu cmd=%s "
           "scheduled to be closed ASAP for overcoming of output buffer limits.",
           (unsigned long long)r->client_id, r->peer, r->conn ? rk_conn_local(r->conn) : "?",
           r->conn ? rk_conn_fd(r->conn) : -1, (long long)((now - r->created_ms) / 1000), used,
           r->is_psync ? "psync" : "sync");
    replica_close(srv, r, 0);
    return 1;
}

static void send_to_replica(rreplica *r, const char *p, size_t len) {
    if (len && rk_buf_append(rk_conn_out(r->conn), p, len) != 0) {
        rk_log(LL_WARNING, "Out of memory writing to replica %s: closing it", r->peer);
        r->closing = 1;
        rk_conn_close(r->conn, 0);
    }
}

static void go_online(repl_server *srv, rreplica *r) {
    (void)srv;
    r->state = RS_ONLINE;
    r->ack_ms = r->last_io_ms = rk_mstime();
    if (!r->start_on_ack) {
        send_to_replica(r, r->kept.data, r->kept.len);
        rk_buf_free(&r->kept);
    }
    char name[96];
    rk_log(LL_NOTICE, "Synchronization with replica %s succeeded", replica_name(r, name, sizeof(name)));
}

void master_feed_stream(repl_server *srv, const char *p, size_t len) {
    if (len == 0) return;
    if (ensure_backlog(srv) != 0) {
        rk_log(LL_WARNING, "Out of memory creating the replication backlog");
        master_drop_replicas(srv, "out of memory");
        srv->master_repl_offset += (long long)len;
        return;
    }
    backlog_feed(srv->backlog, p, len);
    srv->master_repl_offset += (long long)len;
    int64_t now = rk_mstime();
    for (rreplica *r = srv->master->replicas; r; r = r->next) {
        if (r->closing) continue;
        if (r->state == RS_ONLINE && !r->start_on_ack) {
            send_to_replica(r, p, len);
        } else if (r->announced) {
            if (rk_buf_append(&r->kept, p, len) != 0) {
                rk_log(LL_WARNING, "Out of memory keeping the stream for replica %s: closing it", r->peer);
                replica_close(srv, r, 0);
                continue;
            }
        } else {
            continue;
        }
        check_obuf(srv, r, now);
    }
}

void master_drop_replicas(repl_server *srv, const char *why) {
    for (rreplica *r = srv->master->replicas; r; r = r->next) {
        if (r->closing) continue;
        char name[96];
        rk_log(LL_NOTICE, "Disconnecting replica %s: %s", replica_name(r, name, sizeof(name)), why);
        replica_close(srv, r, 0);
    }
}

/* ---- the feeds and the merge ---------------------------------------------- */

static void queue_free_all(struct repl_master *mm) {
    for (int k = 0; k < RK_MAX_SHARDS; k++) {
        while (mm->qn[k] > 0) {
            repl_feed_msg *f = mm->q[k][mm->qh[k]];
            mm->qh[k] = (mm->qh[k] + 1) % (REPL_FEED_CREDITS + 1);
            mm->qn[k]--;
            rk_buf_free(&f->data);
            free(f);
        }
        mm->qh[k] = 0;
    }
}

static void feeds_start(repl_server *srv, int fresh) {
    struct repl_master *mm = srv->master;
    if (mm->feeds_on) return;
    mm->fresh = fresh;
    mm->merge = repl_merge_new(srv->nshards, MERGE_PENDING);
    if (!mm->merge) {
        rk_log(LL_WARNING, "Out of memory starting the replication feeds");
        return;
    }
    mm->epoch++;
    mm->feeds_on = 1;
    mm->merge_hold = 0;
    repl_feed_start_all_msg *all = calloc(1, sizeof(*all));
    for (int k = 0; all && k < srv->nshards; k++) {
        mm->started[k] = 0;
        repl_feed_msg *f = calloc(1, sizeof(*f));
        if (!f) break;
        f->m.type = MSG_REPL_FEED_START;
        f->shard = k;
        f->epoch = mm->epoch;
        all->start[all->n++] = f;
    }
    if (!all || all->n < srv->nshards) {
        for (int k = 0; all && k < all->n; k++) free(all->start[k]);
        free(all);
        rk_log(LL_WARNING, "Out of memory starting the replication feeds");
        master_feeds_stop(srv);
        return;
    }
    all->m.type = MSG_REPL_FEED_START_ALL;
    to_shard(0, &all->m);
}

/* Promotion: our replicas continue partially, so the stream is sent from
 * the feeds' start (see docs/replication.md for its start-up race). */
void master_feeds_start(repl_server *srv) { feeds_start(srv, 0); }

void master_feeds_stop(repl_server *srv) {
    struct repl_master *mm = srv->master;
    if (!mm->feeds_on) return;
    for (int k = 0; k < srv->nshards; k++) {
        repl_feed_msg *f = calloc(1, sizeof(*f));
        if (!f) continue; /* the shard's feed keeps going until the next start replaces it */
        f->m.type = MSG_REPL_FEED_STOP;
        f->shard = k;
        f->epoch = mm->epoch;
        to_shard(k, &f->m);
    }
    queue_free_all(mm);
    repl_merge_free(mm->merge);
    mm->merge = NULL;
    mm->feeds_on = 0;
    mm->merge_hold = 0;
}

/* The merged stream broke (overrun, malformed): every replica resyncs. */
static void feeds_restart(repl_server *srv, const char *why) {
    rk_log(LL_WARNING, "Replication stream lost (%s): disconnecting every replica, they will resync", why);
    master_drop_replicas(srv, why);
    if (srv->master->sync) sync_fail(srv, srv->master->sync, why);
    master_feeds_stop(srv);
    /* The stream has a hole: a new history, so nobody continues across it. */
    master_new_replid(srv);
    backlog_free(srv->backlog);
    srv->backlog = NULL;
    if (ensure_backlog(srv) == 0) feeds_start(srv, 1);
}

static void feed_data(repl_server *srv, repl_feed_msg *f) {
    struct repl_master *mm = srv->master;
    int k = f->shard;
    if (!mm->feeds_on || f->epoch != mm->epoch || k < 0 || k >= srv->nshards) {
        rk_buf_free(&f->data);
        free(f);
        return;
    }
    if (f->overrun) {
        rk_buf_free(&f->data);
        free(f);
        feeds_restart(srv, "a shard's journal feed was overrun");
        return;
    }
    if (!mm->started[k]) {
        mm->started[k] = 1;
        mm->start_pos[k] = f->from;
    }
    assert(mm->qn[k] < REPL_FEED_CREDITS + 1);
    mm->q[k][(mm->qh[k] + mm->qn[k]) % (REPL_FEED_CREDITS + 1)] = f;
    mm->qn[k]++;
}

/* Moves queued feed bytes into the merge; returns the credits. 1 when
 * something moved. */
static int feed_queues(repl_server *srv) {
    struct repl_master *mm = srv->master;
    int moved = 0;
    for (int k = 0; k < srv->nshards && mm->feeds_on; k++) {
        while (mm->qn[k] > 0) {
            repl_feed_msg *f = mm->q[k][mm->qh[k]];
            int rc = repl_merge_feed(mm->merge, k, f->data.data, f->data.len);
            if (rc == REPL_MERGE_EBOUND || rc == REPL_MERGE_ENOMEM) break;
            if (rc == REPL_MERGE_EPROTO) {
                char why[160];
                snprintf(why, sizeof(why), "shard %d's journal: %s", k, repl_merge_error(mm->merge));
                feeds_restart(srv, why);
                return 1;
            }
            /* the expected position: the feed's bytes are contiguous */
            assert(f->from == mm->start_pos[k] + repl_merge_consumed(mm->merge, k) + repl_merge_pending(mm->merge, k) -
                                  f->data.len);
            mm->qh[k] = (mm->qh[k] + 1) % (REPL_FEED_CREDITS + 1);
            mm->qn[k]--;
            moved = 1;
            f->m.type = MSG_REPL_FEED_BACK;
            rk_buf_clear(&f->data);
            to_shard(k, &f->m);
        }
    }
    return moved;
}

/* ---- full syncs ---------------------------------------------------------------- */

static void sync_send_bulk_start(repl_server *srv, rsync *sy);

/* The cut's offset is known: +FULLRESYNC (PSYNC only) and the stream is
 * kept per replica from here. */
static void sync_announce(repl_server *srv, rsync *sy) {
    sy->offset = srv->master_repl_offset;
    sy->phase = SY_RUNNING;
    for (rreplica *r = srv->master->replicas; r; r = r->next) {
        if (r->sync != sy || r->closing) continue;
        if (r->is_psync) {
            char line[128];
            int n = snprintf(line, sizeof(line), "+FULLRESYNC %s %lld\r\n", srv->replid, sy->offset);
            send_to_replica(r, line, (size_t)n);
        }
        r->announced = 1;
    }
    rk_log(LL_NOTICE, "Full sync at replication offset %lld (%s)", sy->offset, sy->diskless ? "diskless" : "disk");
    if (sy->nreplicas == 0) {
        sync_free(srv, sy); /* every replica left meanwhile */
        return;
    }
    if (sy->diskless) sync_send_bulk_start(srv, sy);
}

static void pipe_drop(rsync *sy) {
    if (!sy->pipe) return;
    sy->pud->sy = NULL; /* its on_close frees it */
    rk_conn_close(sy->pipe, 0);
    sy->pipe = NULL;
    sy->pud = NULL;
}

static void sync_free(repl_server *srv, rsync *sy) {
    pipe_drop(sy);
    if (sy->pipe_wfd >= 0) close(sy->pipe_wfd);
    if (sy->file_fd >= 0) close(sy->file_fd);
    if (sy->paused_apply) replica_resume_apply(srv);
    if (srv->master->sync == sy) srv->master->sync = NULL;
    free(sy);
}

static void sync_fail(repl_server *srv, rsync *sy, const char *why) {
    rk_log(LL_WARNING, "Full sync failed: %s", why);
    for (rreplica *r = srv->master->replicas; r; r = r->next)
        if (r->sync == sy) {
            r->sync = NULL;
            replica_close(srv, r, 0);
        }
    sy->nreplicas = 0;
    sync_free(srv, sy);
}

static void request_snapshot(repl_server *srv, rsync *sy) {
    persist_repl_snap_msg *q = calloc(1, sizeof(*q));
    if (!q) {
        sy->retry_at_ms = rk_mstime() + SNAP_RETRY_MS;
        return;
    }
    if (sy->diskless && sy->pipe_wfd < 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            free(q);
            sync_fail(srv, sy, strerror(errno));
            return;
        }
        sy->pud = calloc(1, sizeof(*sy->pud));
        sy->pipe = sy->pud ? rk_loop_adopt(srv->loop, sv[0], sy->pud) : NULL;
        if (!sy->pipe) {
            int e = sy->pud ? errno : ENOMEM;
            free(sy->pud);
            sy->pud = NULL;
            close(sv[0]);
            close(sv[1]);
            free(q);
            sync_fail(srv, sy, strerror(e));
            return;
        }
        sy->pud->kind = UD_PIPE;
        sy->pud->sy = sy;
        rk_conn_pause_read(sy->pipe, 1);
        sy->pipe_paused = 1;
        sy->pipe_wfd = sv[1];
    }
    q->m.type = MSG_REPL_SNAP_REQ;
    q->reply_to = &srv->mb;
    q->job = sy->job;
    q->diskless = sy->diskless;
    q->fd = sy->diskless ? sy->pipe_wfd : -1;
    snprintf(q->path, sizeof(q->path), "%s", srv->cfg.dbfilename);
    snprintf(q->repl_id, sizeof(q->repl_id), "%s", srv->replid);
    q->repl_offset = -1;
    if (srv->is_replica) {
        /* The master's stream goes on without a SELECT at the cut: our
         * replicas start in its database (Redis's rdbPopulateSaveInfo). */
        q->repl_offset = srv->master_repl_offset;
        q->repl_stream_db = replica_stream_db(srv);
    }
    sy->phase = SY_REQUESTED;
    if (srv->master->feeds_on && !srv->is_replica) srv->master->merge_hold = 1;
    to_shard(0, &q->m);
}

static void paused_cb(repl_server *srv, void *ud) {
    rsync *sy = srv->master->sync;
    if (!sy || sy->job != (uint64_t)(uintptr_t)ud || sy->phase != SY_PAUSING) {
        replica_resume_apply(srv); /* that sync is gone */
        return;
    }
    sy->paused_apply = 1;
    request_snapshot(srv, sy);
}

static void pause_for(repl_server *srv, rsync *sy) {
    sy->phase = SY_PAUSING;
    if (replica_pause_apply(srv, paused_cb, (void *)(uintptr_t)sy->job) != 0)
        sync_fail(srv, sy, "cannot pause the master link");
}

/* Starts a sync for every replica waiting for one. */
static void sync_start(repl_server *srv) {
    struct repl_master *mm = srv->master;
    assert(!mm->sync);
    rsync *sy = calloc(1, sizeof(*sy));
    if (!sy) return;
    sy->diskless = srv->cfg.repl_diskless_sync;
    sy->job = ++mm->next_job;
    sy->offset = -1;
    sy->pipe_wfd = -1;
    sy->file_fd = -1;
    random_hex(sy->eofmark, 40);
    for (rreplica *r = mm->replicas; r; r = r->next) {
        if (r->closing || r->state != RS_WAIT_START) continue;
        r->state = RS_WAIT_END;
        r->sync = sy;
        sy->nreplicas++;
        if (!(r->capa & REPL_CAPA_EOF)) sy->diskless = 0; /* Redis: diskless only when every replica reads $EOF */
    }
    mm->sync = sy;
    rk_log(LL_NOTICE, "Starting BGSAVE for SYNC with target: %s (%d replica(s))",
           sy->diskless ? "replicas sockets" : "disk", sy->nreplicas);
    if (srv->is_replica) pause_for(srv, sy);
    else request_snapshot(srv, sy);
}

/* Redis's rules: disk-based at once; diskless after repl-diskless-sync-delay
 * or as soon as repl-diskless-sync-max-replicas wait. */
static void sync_maybe_start(repl_server *srv) {
    struct repl_master *mm = srv->master;
    if (mm->sync) return;
    int waiting = 0;
    int64_t oldest = 0;
    for (rreplica *r = mm->replicas; r; r = r->next) {
        if (r->closing || r->state != RS_WAIT_START) continue;
        if (!waiting || r->created_ms < oldest) oldest = r->created_ms;
        waiting++;
    }
    if (!waiting) return;
    if (srv->is_replica && !srv->view.link_up) return;
    if (srv->cfg.repl_diskless_sync) {
        int64_t idle = rk_mstime() - oldest;
        int enough = srv->cfg.repl_diskless_sync_max_replicas > 0 &&
                     waiting >= srv->cfg.repl_diskless_sync_max_replicas;
        if (!enough && idle < srv->cfg.repl_diskless_sync_delay * 1000) return;
    }
    sync_start(srv);
}

static void snap_cut(repl_server *srv, persist_repl_snap_msg *q) {
    struct repl_master *mm = srv->master;
    rsync *sy = mm->sync;
    if (!sy || sy->job != q->job || sy->phase != SY_REQUESTED) {
        free(q);
        return;
    }
    if (!q->ok) {
        if (q->busy) {
            rk_log(LL_NOTICE, "Full sync waits: a snapshot is running; retrying");
            sy->phase = SY_PAUSING;
            sy->retry_at_ms = rk_mstime() + SNAP_RETRY_MS;
            mm->merge_hold = 0;
            if (sy->diskless) sy->pipe_wfd = -1; /* shard 0 closed it */
            pipe_drop(sy);                       /* a new socketpair for the next try */
            if (sy->paused_apply) {
                sy->paused_apply = 0;
                replica_resume_apply(srv);
            }
            free(q);
            return;
        }
        char why[256];
        snprintf(why, sizeof(why), "snapshot: %s", q->err);
        if (sy->diskless) sy->pipe_wfd = -1;
        mm->merge_hold = 0;
        free(q);
        sync_fail(srv, sy, why);
        return;
    }
    if (sy->diskless) sy->pipe_wfd = -1; /* the sink owns it */
    sy->phase = SY_CUT;
    if (srv->is_replica || !mm->feeds_on) {
        /* a replica's stream is paused at the cut (replica_pause_apply); a
         * master without feeds has no stream: the offset now is the cut's */
        free(q);
        sync_announce(srv, sy);
        if (sy->paused_apply) {
            sy->paused_apply = 0;
            replica_resume_apply(srv);
        }
        return;
    }
    memcpy(sy->cut_pos, q->cut_pos, sizeof(sy->cut_pos));
    sy->have_cut = 1;
    free(q);
}

/* With the cut known and every feed's start known: the merge's stops. */
static void sync_set_stops(repl_server *srv) {
    struct repl_master *mm = srv->master;
    rsync *sy = mm->sync;
    if (!sy || sy->phase != SY_CUT || !sy->have_cut || !mm->merge_hold) return;
    for (int k = 0; k < srv->nshards; k++)
        if (!mm->started[k]) return;
    for (int k = 0; k < srv->nshards; k++) {
        assert(sy->cut_pos[k] >= mm->start_pos[k]);
        int rc = repl_merge_set_stop(mm->merge, k, sy->cut_pos[k] - mm->start_pos[k]);
        assert(rc == REPL_MERGE_OK && "the merge did not step past an unknown cut");
        (void)rc;
    }
    mm->merge_hold = 0;
}

static void sync_at_stop(repl_server *srv) {
    struct repl_master *mm = srv->master;
    rsync *sy = mm->sync;
    if (!mm->merge || !repl_merge_at_stop(mm->merge)) return;
    repl_merge_clear_stop(mm->merge);
    repl_merge_force_select(mm->merge);
    mm->fresh = 0;
    if (sy && sy->phase == SY_CUT) sync_announce(srv, sy);
}

static void sync_send_bulk_start(repl_server *srv, rsync *sy) {
    if (sy->diskless) {
        char line[64];
        int n = snprintf(line, sizeof(line), "$EOF:%s\r\n", sy->eofmark);
        for (rreplica *r = srv->master->replicas; r; r = r->next) {
            if (r->sync != sy || r->closing) continue;
            send_to_replica(r, line, (size_t)n);
            r->state = RS_SEND_BULK;
        }
        if (sy->pipe && sy->pipe_paused) {
            rk_conn_pause_read(sy->pipe, 0);
            sy->pipe_paused = 0;
        }
        return;
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "$%lld\r\n", sy->file_size);
    for (rreplica *r = srv->master->replicas; r; r = r->next) {
        if (r->sync != sy || r->closing) continue;
        send_to_replica(r, line, (size_t)n);
        r->state = RS_SEND_BULK;
        r->bulk_pos = 0;
    }
}

static void snap_done(repl_server *srv, save_result *res) {
    rsync *sy = srv->master->sync;
    if (!sy || sy->job != res->job) {
        free(res);
        return;
    }
    sy->done = 1;
    sy->ok = res->ok;
    if (!res->ok) {
        char why[256];
        snprintf(why, sizeof(why), "the snapshot failed: %s", res->err);
        free(res);
        sync_fail(srv, sy, why);
        return;
    }
    free(res);
    if (!sy->diskless) {
        sy->file_fd = open(srv->cfg.dbfilename, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (sy->file_fd < 0 || fstat(sy->file_fd, &st) != 0) {
            char why[256];
            snprintf(why, sizeof(why), "cannot open %s: %s", srv->cfg.dbfilename, strerror(errno));
            sync_fail(srv, sy, why);
            return;
        }
        sy->file_size = st.st_size;
        rk_log(LL_NOTICE, "Background RDB transfer started: %lld bytes", sy->file_size);
        sync_send_bulk_start(srv, sy);
    }
    sync_maybe_finish(srv);
}

/* Diskless: the RDB is all read and the sink said it succeeded: the mark,
 * and the replicas are online (the kept stream after their first ACK). */
static void sync_maybe_finish(repl_server *srv) {
    rsync *sy = srv->master->sync;
    if (!sy || !sy->done || !sy->ok) return;
    if (sy->diskless) {
        if (!sy->pipe_eof) return;
        for (rreplica *r = srv->master->replicas; r; r = r->next) {
            if (r->sync != sy || r->closing) continue;
            send_to_replica(r, sy->eofmark, 40);
            r->start_on_ack = 1;
            r->sync = NULL;
            go_online(srv, r);
        }
        rk_log(LL_NOTICE, "Streamed RDB transfer with replicas succeeded (socket). Waiting for REPLCONF ACK from "
                          "replicas to enable streaming");
        sync_free(srv, sy);
        return;
    }
    /* disk: online as each has the whole file (bulk_pump) */
    int left = 0;
    for (rreplica *r = srv->master->replicas; r; r = r->next)
        if (r->sync == sy && !r->closing) left++;
    if (!left) sync_free(srv, sy);
}

/* Disk: file bytes to each replica, at most BULK_BOUND unsent. */
static void bulk_pump(repl_server *srv) {
    rsync *sy = srv->master->sync;
    if (!sy || sy->diskless || sy->file_fd < 0) return;
    int finished_any = 0;
    for (rreplica *r = srv->master->replicas; r; r = r->next) {
        if (r->sync != sy || r->closing || r->state != RS_SEND_BULK) continue;
        while (r->bulk_pos < sy->file_size && rk_conn_unsent(r->conn) < BULK_BOUND) {
            size_t n = BULK_CHUNK;
            if ((long long)n > sy->file_size - r->bulk_pos) n = (size_t)(sy->file_size - r->bulk_pos);
            rk_buf *out = rk_conn_out(r->conn);
            if (rk_buf_reserve(out, n) != 0) break;
            ssize_t got = pread(sy->file_fd, out->data + out->len, n, r->bulk_pos);
            if (got <= 0) {
                rk_log(LL_WARNING, "Read error sending the RDB to replica %s: %s", r->peer,
                       got < 0 ? strerror(errno) : "short file");
                replica_close(srv, r, 0);
                break;
            }
            out->len += (size_t)got;
            r->bulk_pos += got;
            r->last_io_ms = rk_mstime();
        }
        if (!r->closing && r->bulk_pos == sy->file_size) {
            r->sync = NULL;
            go_online(srv, r);
            finished_any = 1;
        }
    }
    if (finished_any) sync_maybe_finish(srv);
}

/* Diskless: resume reading the RDB once every replica of the sync took its bytes. */
static void pipe_pressure(repl_server *srv) {
    rsync *sy = srv->master->sync;
    if (!sy || !sy->diskless || !sy->pipe || sy->phase != SY_RUNNING) return;
    int over = 0;
    for (rreplica *r = srv->master->replicas; r; r = r->next)
        if (r->sync == sy && !r->closing && rk_conn_unsent(r->conn) > BULK_BOUND) over = 1;
    if (over != sy->pipe_paused) {
        rk_conn_pause_read(sy->pipe, over);
        sy->pipe_paused = over;
    }
}

static void pipe_data(repl_server *srv, rsync *sy, const char *p, size_t len) {
    for (rreplica *r = srv->master->replicas; r; r = r->next) {
        if (r->sync != sy || r->closing) continue;
        send_to_replica(r, p, len);
        r->last_io_ms = rk_mstime();
    }
    pipe_pressure(srv);
}

/* ---- replicas: arrival, input, departure --------------------------------------- */

static void attach_or_wait(repl_server *srv, rreplica *r) {
    struct repl_master *mm = srv->master;
    rsync *sy = mm->sync;
    r->state = RS_WAIT_START;
    if (!sy) {
        sync_maybe_start(srv);
        return;
    }
    /* Joining a sync whose stream is not yet being sent is free; a disk
     * sync still writing its file takes a replica that copies a fellow's
     * kept stream (Redis: "Waiting for end of BGSAVE for SYNC"). */
    if (sy->phase == SY_PAUSING || sy->phase == SY_REQUESTED || sy->phase == SY_CUT) {
        r->state = RS_WAIT_END;
        r->sync = sy;
        sy->nreplicas++;
        rk_log(LL_NOTICE, "Waiting for end of BGSAVE for SYNC");
        return;
    }
    if (!sy->diskless && !sy->done) {
        for (rreplica *o = mm->replicas; o; o = o->next) {
            if (o == r || o->sync != sy || o->closing || !o->announced) continue;
            if (rk_buf_append(&r->kept, o->kept.data, o->kept.len) != 0) break;
            r->state = RS_WAIT_END;
            r->sync = sy;
            sy->nreplicas++;
            if (r->is_psync) {
                char line[128];
                int n = snprintf(line, sizeof(line), "+FULLRESYNC %s %lld\r\n", srv->replid, sy->offset);
                send_to_replica(r, line, (size_t)n);
            }
            r->announced = 1;
            rk_log(LL_NOTICE, "Waiting for end of BGSAVE for SYNC");
            return;
        }
    }
    rk_log(LL_NOTICE, "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC");
}

static void handoff(repl_server *srv, repl_handoff_msg *h) {
    struct repl_master *mm = srv->master;
    rreplica *r = calloc(1, sizeof(*r));
    if (!r) {
        close(h->fd);
        rk_buf_free(&h->surplus);
        free(h);
        return;
    }
    r->kind = UD_REPLICA;
    r->capa = h->capa;
    r->is_psync = h->is_psync;
    r->port = h->listening_port;
    snprintf(r->ip, sizeof(r->ip), "%s", h->ip);
    snprintf(r->peer, sizeof(r->peer), "%s", h->peer);
    r->client_id = h->client_id;
    r->created_ms = r->last_io_ms = r->ack_ms = rk_mstime();
    resp_parser_init(&r->parser, 512 * 1024 * 1024LL);
    rk_buf_init(&r->kept);
    rk_buf_init(&r->in);
    r->conn = rk_loop_adopt(srv->loop, h->fd, r);
    if (!r->conn) {
        rk_log(LL_WARNING, "Cannot take replica %s: %s", h->peer, strerror(errno));
        close(h->fd);
        rk_buf_free(&h->surplus);
        free(h);
        free(r);
        return;
    }
    if (srv->cfg.repl_disable_tcp_nodelay) {
        int zero = 0;
        setsockopt(rk_conn_fd(r->conn), IPPROTO_TCP, TCP_NODELAY, &zero, sizeof(zero));
    }
    r->next = mm->replicas;
    mm->replicas = r;
    mm->nreplicas++;
    char name[96]; /* the shard logged "Replica ... asks for synchronization" */
    replica_name(r, name, sizeof(name));

    int full = 0;
    if (srv->is_replica && !srv->view.link_up) {
        const char *e = "-NOMASTERLINK Can't SYNC while not connected with my master\r\n";
        send_to_replica(r, e, strlen(e));
        replica_close(srv, r, 1);
    } else if (h->is_psync) {
        repl_ids ids;
        memcpy(ids.replid, srv->replid, sizeof(ids.replid));
        memcpy(ids.replid2, srv->replid2, sizeof(ids.replid2));
        ids.second_repl_offset = srv->second_repl_offset;
        ids.master_repl_offset = srv->master_repl_offset;
        psync_decision d;
        psync_decide(&ids, srv->backlog, h->replid, h->offset, &d);
        if (d.action == PSYNC_CONTINUE) {
            char line[128];
            int n = psync_reply(&d, (r->capa & REPL_CAPA_PSYNC2) != 0, 0, line, sizeof(line));
            send_to_replica(r, line, (size_t)n);
            long long sent = 0;
            for (int i = 0; i < d.npieces; i++) {
                send_to_replica(r, d.data[i].ptr, d.data[i].len);
                sent += (long long)d.data[i].len;
            }
            r->state = RS_ONLINE;
            mm->sync_partial_ok++;
            rk_log(LL_NOTICE,
                   "Partial resynchronization request from %s accepted. Sending %lld bytes of backlog starting from "
                   "offset %lld.",
                   name, sent, h->offset);
            check_obuf(srv, r, rk_mstime());
        } else {
            switch (d.reason) {
            case PSYNC_FORCED:
                rk_log(LL_NOTICE, "Full resync requested by replica %s", name);
                break;
            case PSYNC_ID_MISMATCH:
                rk_log(LL_NOTICE,
                       "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '%s', my "
                       "replication IDs are '%s' and '%s')",
                       h->replid, srv->replid, srv->replid2);
                break;
            case PSYNC_ID2_TOO_FAR:
                rk_log(LL_NOTICE,
                       "Partial resynchronization not accepted: Requested offset for second ID was %lld, but I can "
                       "reply up to %lld",
                       h->offset, srv->second_repl_offset);
                break;
            default:
                rk_log(LL_NOTICE,
                       "Unable to partial resync with replica %s for lack of backlog (Replica request was: %lld).", name,
                       h->offset);
                if (d.offset_ahead)
                    rk_log(LL_WARNING, "Warning: replica %s tried to PSYNC with an offset that is greater than the "
                                       "master replication offset.", name);
            }
            if (strcmp(h->replid, "?") != 0) mm->sync_partial_err++;
        }
        full = d.action != PSYNC_CONTINUE;
    } else {
        full = 1;
    }
    if (full && !r->closing) {
        mm->sync_full++;
        if (!srv->is_replica && !srv->backlog) {
            /* Redis: the first replica of a master without backlog gets a new history. */
            master_new_replid(srv);
            if (ensure_backlog(srv) != 0) {
                rk_log(LL_WARNING, "Out of memory creating the replication backlog");
                replica_close(srv, r, 0);
            } else {
                rk_log(LL_NOTICE, "Replication backlog created, my new replication IDs are '%s' and '%s'",
                       srv->replid, srv->replid2);
            }
        }
        if (!srv->is_replica && srv->backlog) feeds_start(srv, 1);
        if (!r->closing) attach_or_wait(srv, r);
    }
    /* bytes the replica sent after its PSYNC (REPLCONF ACK...) */
    if (h->surplus.len && !r->closing) replica_on_data(r, h->surplus.data, h->surplus.len);
    rk_buf_free(&h->surplus);
    free(h);
    repl_broadcast_view(srv, 0);
}

static void replica_on_data(void *ud, const char *p, size_t len) {
    rreplica *r = ud;
    repl_server *srv = &g_srv;
    if (r->closing) return;
    r->last_io_ms = rk_mstime();
    if (r->in.len + len > REPLICA_QBUF || rk_buf_append(&r->in, p, len) != 0) {
        rk_log(LL_WARNING, "Replica %s sent too much: closing it", r->peer);
        replica_close(srv, r, 0);
        return;
    }
    size_t at = 0;
    for (;;) {
        size_t used = 0;
        const char *err = NULL;
        int rc = resp_parse_command(&r->parser, r->in.data + at, r->in.len - at, &r->args, &used, NULL, &err);
        if (rc == RESP_NEED_MORE) break;
        if (rc == RESP_ERROR) {
            rk_log(LL_WARNING, "Protocol error from replica %s: %s", r->peer, err ? err : "?");
            replica_close(srv, r, 0);
            return;
        }
        at += used;
        if (rc != RESP_COMMAND || r->args.argc == 0) continue;
        rk_slice *a = r->args.argv;
        if (rk_slice_eq_nocase(a[0], "replconf") && r->args.argc >= 3 && rk_slice_eq_nocase(a[1], "ack")) {
            char num[32];
            size_t n = a[2].len < sizeof(num) - 1 ? a[2].len : sizeof(num) - 1;
            memcpy(num, a[2].ptr, n);
            num[n] = '\0';
            char *end;
            errno = 0;
            long long off = strtoll(num, &end, 10);
            if (errno || *end || n == 0) continue; /* Redis ignores a bad ACK */
            if (off > r->ack_off) r->ack_off = off;
            r->ack_ms = rk_mstime();
            if (r->start_on_ack && r->state == RS_ONLINE) {
                r->start_on_ack = 0;
                send_to_replica(r, r->kept.data, r->kept.len);
                rk_buf_free(&r->kept);
            }
        }
        /* PING and other REPLCONF: the activity above is all they do here */
    }
    rk_buf_consume(&r->in, at);
    check_waits(srv);
}

static void replica_free_one(repl_server *srv, rreplica *r) {
    struct repl_master *mm = srv->master;
    for (rreplica **pp = &mm->replicas; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    mm->nreplicas--;
    if (mm->nreplicas == 0) mm->no_replicas_since_ms = rk_mstime();
    char name[96];
    rk_log(LL_NOTICE, "Connection with replica %s lost.", replica_name(r, name, sizeof(name)));
    rsync *sy = r->sync;
    if (sy) {
        sy->nreplicas--;
        r->sync = NULL;
        /* Nobody left to send it to: a running transfer stops (a diskless
         * sink fails on EPIPE), one waiting to retry is dropped; a request
         * or a cut in flight finishes first (sync_announce frees it). */
        if (sy->nreplicas == 0 && sy == mm->sync &&
            (sy->phase == SY_RUNNING || (sy->phase == SY_PAUSING && sy->retry_at_ms && !sy->paused_apply)))
            sync_free(srv, sy);
    }
    rk_buf_free(&r->kept);
    rk_buf_free(&r->in);
    resp_args_free(&r->args);
    free(r);
    repl_broadcast_view(srv, 0);
}

/* ---- WAIT ------------------------------------------------------------------ */

static int count_acks(repl_server *srv, long long offset) {
    int n = 0;
    for (rreplica *r = srv->master->replicas; r; r = r->next)
        if (!r->closing && r->state == RS_ONLINE && r->ack_off >= offset) n++;
    return n;
}

static void wait_answer(repl_server *srv, repl_cmd_msg *m, long long offset) {
    wait_state *w = m->wait_state;
    rk_reply rep = {&m->reply, m->resp};
    reply_int(&rep, offset < 0 ? count_acks(srv, srv->master_repl_offset + 1) : count_acks(srv, offset));
    free(w);
    m->wait_state = NULL;
    repl_cmd_answer(m);
}

/* A held WAIT's target: the merged offset once the merge passed every
 * shard's journal position taken when it was asked. */
static void wait_target(repl_server *srv, wait_state *w) {
    struct repl_master *mm = srv->master;
    if (w->target >= 0) return;
    if (!mm->feeds_on || w->epoch != mm->epoch) {
        /* the stream restarted (every replica resyncs): now is a superset */
        w->target = srv->master_repl_offset;
        return;
    }
    if (w->answered < srv->nshards) return;
    for (int k = 0; k < srv->nshards; k++) {
        if (!mm->started[k]) return;
        uint64_t need = w->pos[k] > mm->start_pos[k] ? w->pos[k] - mm->start_pos[k] : 0;
        if (repl_merge_consumed(mm->merge, k) < need) return;
    }
    w->target = srv->master_repl_offset;
}

static void check_waits(repl_server *srv) {
    struct repl_master *mm = srv->master;
    int64_t now = rk_mstime();
    repl_cmd_msg **pp = &mm->waits;
    while (*pp) {
        repl_cmd_msg *m = *pp;
        wait_state *w = m->wait_state;
        int known = w->target >= 0;
        wait_target(srv, w);
        int done = 0;
        if (w->target >= 0 && count_acks(srv, w->target) >= w->numreplicas) done = 1;
        else if (w->deadline_ms && now >= w->deadline_ms) done = 1;
        if (!known && w->target >= 0 && !done) mm->getack = 1; /* once, as Redis asks once per WAIT */
        if (done) {
            *pp = m->next;
            wait_answer(srv, m, w->target);
        } else {
            pp = &m->next;
        }
    }
}

static int parse_ll(rk_slice s, long long *out) {
    char num[32];
    if (s.len == 0 || s.len >= sizeof(num)) return -1;
    memcpy(num, s.ptr, s.len);
    num[s.len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(num, &end, 10);
    if (errno || *end || isspace((unsigned char)num[0])) return -1;
    *out = v;
    return 0;
}

static void cmd_wait(repl_server *srv, repl_cmd_msg *m) {
    struct repl_master *mm = srv->master;
    rk_reply rep = {&m->reply, m->resp};
    if (srv->is_replica) {
        reply_error(&rep, "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a "
                          "replica is configured to be writable (which is not the default) writes to replicas are "
                          "just local and are not propagated.");
        repl_cmd_answer(m);
        return;
    }
    long long numreplicas, timeout;
    if (m->argc != 3) {
        reply_error(&rep, "ERR wrong number of arguments for 'wait' command");
        repl_cmd_answer(m);
        return;
    }
    if (parse_ll(m->argv[1], &numreplicas) != 0) {
        reply_error(&rep, "ERR value is not an integer or out of range");
        repl_cmd_answer(m);
        return;
    }
    if (parse_ll(m->argv[2], &timeout) != 0) {
        reply_error(&rep, "ERR timeout is not an integer or out of range");
        repl_cmd_answer(m);
        return;
    }
    if (timeout < 0) {
        reply_error(&rep, "ERR timeout is negative");
        repl_cmd_answer(m);
        return;
    }
    wait_state *w = calloc(1, sizeof(*w));
    if (!w) {
        reply_error(&rep, "ERR out of memory");
        repl_cmd_answer(m);
        return;
    }
    w->numreplicas = (long)numreplicas;
    w->deadline_ms = timeout > 0 ? rk_mstime() + timeout : 0;
    w->target = -1;
    w->token = ++mm->next_token;
    w->epoch = mm->epoch;
    m->wait_state = w;
    if (!mm->feeds_on) {
        w->target = srv->master_repl_offset; /* no stream: nothing more can be in it */
    } else {
        for (int k = 0; k < srv->nshards; k++) {
            repl_pos_msg *p = calloc(1, sizeof(*p));
            if (!p) { /* without its position: the offset of a later moment, still a superset */
                w->answered++;
                w->pos[k] = UINT64_MAX;
                continue;
            }
            p->m.type = MSG_REPL_POSITIONS;
            p->shard = k;
            p->epoch = mm->epoch;
            p->token = w->token;
            to_shard(k, &p->m);
        }
    }
    /* Answer at once when enough replicas already acked the target. */
    wait_target(srv, w);
    if (w->target >= 0 && count_acks(srv, w->target) >= w->numreplicas) {
        wait_answer(srv, m, w->target);
        return;
    }
    m->next = mm->waits;
    mm->waits = m;
    if (w->target >= 0) mm->getack = 1;
}

static void positions_answer(repl_server *srv, repl_pos_msg *p) {
    for (repl_cmd_msg *m = srv->master->waits; m; m = m->next) {
        wait_state *w = m->wait_state;
        if (w->token != p->token) continue;
        if (p->shard >= 0 && p->shard < srv->nshards) {
            w->pos[p->shard] = p->journal_end;
            w->answered++;
        }
        break;
    }
    free(p);
    check_waits(srv);
}

/* ---- ROLE and INFO ------------------------------------------------------------- */

static const char *state_name(int st) {
    switch (st) {
    case RS_WAIT_START:
    case RS_WAIT_END: return "wait_bgsave";
    case RS_SEND_BULK: return "send_bulk";
    default: return "online";
    }
}

static void cmd_role(repl_server *srv, repl_cmd_msg *m) {
    rk_reply rep = {&m->reply, m->resp};
    if (srv->is_replica) {
        replica_role(srv, &rep);
        return;
    }
    int n = 0;
    for (rreplica *r = srv->master->replicas; r; r = r->next)
        if (r->state == RS_ONLINE && !r->closing) n++;
    reply_array(&rep, 3);
    reply_bulk_str(&rep, "master");
    reply_int(&rep, srv->master_repl_offset);
    reply_array(&rep, n);
    for (rreplica *r = srv->master->replicas; r; r = r->next) {
        if (r->state != RS_ONLINE || r->closing) continue;
        char ip[64];
        replica_ip(r, ip, sizeof(ip));
        reply_array(&rep, 3);
        reply_bulk_str(&rep, ip);
        reply_bulk_int(&rep, r->port);
        reply_bulk_int(&rep, r->ack_off);
    }
}

static void info_replication(repl_server *srv, rk_buf *b) {
    struct repl_master *mm = srv->master;
    rk_buf_printf(b, "role:%s\r\n", srv->is_replica ? "slave" : "master");
    if (srv->is_replica) replica_info(srv, b);
    rk_buf_printf(b, "connected_slaves:%d\r\n", mm->nreplicas);
    if (srv->cfg.min_replicas_to_write && srv->cfg.min_replicas_max_lag)
        rk_buf_printf(b, "min_slaves_good_slaves:%d\r\n", srv->view.good_replicas);
    int id = 0;
    int64_t now = rk_mstime();
    for (rreplica *r = mm->replicas; r; r = r->next) {
        char ip[64];
        replica_ip(r, ip, sizeof(ip));
        long lag = r->state == RS_ONLINE ? (long)(now / 1000 - r->ack_ms / 1000) : 0;
        rk_buf_printf(b, "slave%d:ip=%s,port=%d,state=%s,offset=%lld,lag=%ld\r\n", id++, ip, r->port,
                      state_name(r->state), r->ack_off, lag);
    }
    rk_buf_printf(b,
                  "master_failover_state:no-failover\r\n"
                  "master_replid:%s\r\n"
                  "master_replid2:%s\r\n"
                  "master_repl_offset:%lld\r\n"
                  "second_repl_offset:%lld\r\n"
                  "repl_backlog_active:%d\r\n"
                  "repl_backlog_size:%lld\r\n"
                  "repl_backlog_first_byte_offset:%lld\r\n"
                  "repl_backlog_histlen:%lld\r\n",
                  srv->replid, srv->replid2, srv->master_repl_offset, srv->second_repl_offset,
                  backlog_active(srv->backlog), srv->backlog ? backlog_size(srv->backlog) : backlog_cfg_size(srv),
                  backlog_first_byte_offset(srv->backlog), backlog_histlen(srv->backlog));
}

static void handle_cmd(repl_server *srv, repl_cmd_msg *m) {
    rk_reply rep = {&m->reply, m->resp};
    rk_slice name = m->argc > 0 ? m->argv[0] : (rk_slice){"", 0};
    if (rk_slice_eq_nocase(name, "replicaof") || rk_slice_eq_nocase(name, "slaveof")) {
        replica_cmd_replicaof(srv, m);
    } else if (rk_slice_eq_nocase(name, "role")) {
        cmd_role(srv, m);
    } else if (rk_slice_eq_nocase(name, "wait")) {
        cmd_wait(srv, m);
        return; /* answered or held there */
    } else if (rk_slice_eq_nocase(name, "info") && m->argc == 2 && rk_slice_eq_nocase(m->argv[1], "replication")) {
        info_replication(srv, &m->reply);
    } else if (rk_slice_eq_nocase(name, "info") && m->argc == 2 && rk_slice_eq_nocase(m->argv[1], "stats")) {
        rk_buf_printf(&m->reply, "sync_full:%lld\r\nsync_partial_ok:%lld\r\nsync_partial_err:%lld\r\n",
                      srv->master->sync_full, srv->master->sync_partial_ok, srv->master->sync_partial_err);
    } else {
        reply_errorf(&rep, "ERR unknown command '%.*s'", (int)(name.len > 64 ? 64 : name.len), name.ptr);
    }
    repl_cmd_answer(m);
}

/* ---- the view, config ------------------------------------------------------------ */

void repl_broadcast_view(repl_server *srv, int force) {
    struct repl_master *mm = srv->master;
    int good = 0;
    int64_t now = rk_mstime();
    for (rreplica *r = mm->replicas; r; r = r->next)
        if (!r->closing && r->state == RS_ONLINE && (now - r->ack_ms) / 1000 <= srv->cfg.min_replicas_max_lag) good++;
    srv->view.good_replicas = good;
    srv->view.is_replica = srv->is_replica;
    if (!force && mm->view_sent && memcmp(&mm->sent_view, &srv->view, sizeof(srv->view)) == 0) return;
    for (int k = 0; k < srv->nshards; k++) {
        repl_state_msg *s = calloc(1, sizeof(*s));
        if (!s) return; /* the next second's broadcast repeats it */
        s->m.type = MSG_REPL_STATE;
        s->view = srv->view;
        to_shard(k, &s->m);
    }
    mm->sent_view = srv->view;
    mm->view_sent = 1;
}

static void handle_config(repl_server *srv, repl_config_msg *c) {
    char err[256];
    if (config_apply_set(&srv->cfg, c->name, c->value, err, sizeof(err)) != 0) {
        rk_log(LL_WARNING, "Replication thread: CONFIG SET %s: %s", c->name, err);
    } else if (strcasecmp(c->name, "repl-backlog-size") == 0 && srv->backlog) {
        if (backlog_resize(srv->backlog, backlog_cfg_size(srv)) != 0)
            rk_log(LL_WARNING, "Out of memory resizing the replication backlog: keeping %lld bytes",
                   backlog_size(srv->backlog));
    }
    free(c);
    repl_broadcast_view(srv, 0);
}

/* ---- the loop ---------------------------------------------------------------- */

static void handle_msg(repl_server *srv, rk_msg *m) {
    switch (m->type) {
    case MSG_REPL_CMD: handle_cmd(srv, (repl_cmd_msg *)m); return;
    case MSG_REPL_HANDOFF: handoff(srv, (repl_handoff_msg *)m); return;
    case MSG_REPL_CONFIG: handle_config(srv, (repl_config_msg *)m); return;
    case MSG_REPL_FEED_DATA: feed_data(srv, (repl_feed_msg *)m); return;
    case MSG_REPL_POSITIONS: positions_answer(srv, (repl_pos_msg *)m); return;
    case MSG_REPL_SNAP_CUT: snap_cut(srv, (persist_repl_snap_msg *)m); return;
    case MSG_REPL_SNAP_DONE: snap_done(srv, (save_result *)m); return;
    default:
        if (m->type >= MSG_REPL_MASTER_ATTACH && m->type <= MSG_REPL_BLOCK4_LAST_) {
            replica_thread_msg(srv, m);
            return;
        }
        rk_log(LL_WARNING, "Replication thread: unexpected message type %d", m->type);
        free(m);
    }
}

static void on_wake(void *ud) {
    repl_server *srv = ud;
    rk_mailbox_ack_wake(&srv->mb);
    rk_msg *m;
    while ((m = rk_mailbox_pop(&srv->mb)) != NULL) handle_msg(srv, m);
}

static void *on_accept(void *ud, rk_conn *c) {
    (void)ud;
    (void)c;
    return NULL;
}

static void on_data(void *ud, const char *p, size_t len) {
    int kind = *(int *)ud;
    if (kind == UD_REPLICA) {
        replica_on_data(ud, p, len);
    } else if (kind == UD_PIPE) {
        pipe_ud *pu = ud;
        if (pu->sy) pipe_data(&g_srv, pu->sy, p, len);
    }
}

static void on_close(void *ud) {
    int kind = *(int *)ud;
    if (kind == UD_REPLICA) {
        rreplica *r = ud;
        r->conn = NULL;
        replica_free_one(&g_srv, r);
    } else {
        assert(kind == UD_PIPE);
        pipe_ud *pu = ud;
        rsync *sy = pu->sy;
        free(pu);
        if (!sy) return; /* closed by us */
        sy->pipe = NULL;
        sy->pud = NULL;
        sy->pipe_eof = 1;
        sync_maybe_finish(&g_srv);
    }
}

/* Every second: Redis's replicationCron parts that are ours. */
static void cron_second(repl_server *srv, int64_t now) {
    struct repl_master *mm = srv->master;
    /* PING into the stream, so replicas see a live master */
    if (!srv->is_replica && mm->feeds_on && mm->nreplicas > 0 && srv->cfg.repl_ping_replica_period > 0 &&
        now - mm->last_ping_ms >= srv->cfg.repl_ping_replica_period * 1000) {
        mm->last_ping_ms = now;
        if (!mm->merge_hold) master_feed_stream(srv, k_ping, sizeof(k_ping) - 1);
    }
    /* a newline to replicas waiting for their RDB to start */
    rsync *sy = mm->sync;
    for (rreplica *r = mm->replicas; r; r = r->next) {
        if (r->closing) continue;
        int presync = r->state == RS_WAIT_START || (r->state == RS_WAIT_END && !(sy && r->sync == sy && sy->diskless));
        if (presync) send_to_replica(r, "\n", 1);
    }
    /* repl-timeout */
    for (rreplica *r = mm->replicas; r; r = r->next) {
        if (r->closing || r->state != RS_ONLINE) continue;
        if (now - r->ack_ms > srv->cfg.repl_timeout * 1000) {
            char name[96];
            rk_log(LL_WARNING, "Disconnecting timedout replica (streaming sync): %s", replica_name(r, name, sizeof(name)));
            replica_close(srv, r, 0);
        }
    }
    /* the backlog's ttl (master only) */
    if (mm->nreplicas == 0 && srv->backlog && !srv->is_replica && srv->cfg.repl_backlog_ttl > 0 &&
        now - mm->no_replicas_since_ms > srv->cfg.repl_backlog_ttl * 1000) {
        master_new_replid(srv);
        master_feeds_stop(srv);
        backlog_free(srv->backlog);
        srv->backlog = NULL;
        rk_log(LL_NOTICE, "Replication backlog freed after %d seconds without connected replicas.",
               (int)srv->cfg.repl_backlog_ttl);
    }
    repl_broadcast_view(srv, 1);
}

static void on_tick(void *ud) {
    repl_server *srv = ud;
    struct repl_master *mm = srv->master;
    int64_t now = rk_mstime();
    replica_cron(srv);
    rsync *sy = mm->sync;
    if (sy && sy->phase == SY_PAUSING && sy->retry_at_ms && now >= sy->retry_at_ms && !srv->is_replica) {
        sy->retry_at_ms = 0;
        request_snapshot(srv, sy);
    } else if (sy && sy->phase == SY_PAUSING && sy->retry_at_ms && now >= sy->retry_at_ms) {
        sy->retry_at_ms = 0;
        pause_for(srv, sy);
    }
    sync_maybe_start(srv);
    check_waits(srv);
    if (now - mm->last_second_ms >= 1000) {
        mm->last_second_ms = now;
        cron_second(srv, now);
    }
}

/* Feeds, merge, stream: until nothing moves. */
static void process(repl_server *srv) {
    struct repl_master *mm = srv->master;
    for (int rounds = 0; rounds < 1024 && mm->feeds_on; rounds++) { /* each round moves a message or emits */
        int moved = feed_queues(srv);
        if (!mm->feeds_on) break;
        sync_set_stops(srv);
        if (mm->merge_hold) break;
        if (mm->fresh) { /* up to the first cut's stops, or all while no cut is asked */
            rsync *sy = mm->sync;
            int stops = sy && sy->phase == SY_CUT && sy->have_cut;
            int rc = 0;
            for (int k = 0; k < srv->nshards && rc == 0; k++) {
                uint64_t before = repl_merge_consumed(mm->merge, k);
                rc = repl_merge_discard(mm->merge, k, stops ? sy->cut_pos[k] - mm->start_pos[k] : UINT64_MAX);
                if (repl_merge_consumed(mm->merge, k) != before) moved = 1;
            }
            if (rc != REPL_MERGE_OK) {
                char why[160];
                snprintf(why, sizeof(why), "the merge: %s", repl_merge_error(mm->merge));
                feeds_restart(srv, why);
                break;
            }
            if (stops) sync_at_stop(srv);
            if (!moved) break;
            continue;
        }
        rk_buf_clear(&mm->out);
        int rc = repl_merge_step(mm->merge, &mm->out);
        if (mm->out.len) {
            master_feed_stream(srv, mm->out.data, mm->out.len);
            moved = 1;
        }
        if (mm->out.cap > ((size_t)4 << 20)) rk_buf_free(&mm->out);
        if (rc == REPL_MERGE_EPROTO) {
            char why[160];
            snprintf(why, sizeof(why), "the merge: %s", repl_merge_error(mm->merge));
            feeds_restart(srv, why);
            break;
        }
        sync_at_stop(srv);
        if (!moved) break;
    }
}

static void before_wait(void *ud) {
    repl_server *srv = ud;
    struct repl_master *mm = srv->master;
    on_wake(ud); /* messages that came while we worked */
    process(srv);
    check_waits(srv);
    if (mm->getack && !srv->is_replica && mm->feeds_on && !mm->merge_hold) {
        /* one GETACK per iteration while a WAIT waits (Redis's beforeSleep) */
        master_feed_stream(srv, k_getack, sizeof(k_getack) - 1);
    }
    mm->getack = 0;
    bulk_pump(srv);
    pipe_pressure(srv);
}

static void *thread_main(void *ud) {
    repl_server *srv = ud;
    rk_alloc_thread_init();
    if (replica_init(srv) != 0) rk_log(LL_WARNING, "Replication: the replica side did not start");
    repl_broadcast_view(srv, 1);
    if (rk_loop_run(srv->loop) != 0) rk_log(LL_WARNING, "Replication thread: its loop failed");
    return NULL;
}

int repl_start(const rk_config *cfg, char *err, size_t errlen) {
    repl_server *srv = &g_srv; /* zero since the process began; mb may hold messages already */
    srv->master = &g_master;
    rk_buf_init(&g_master.out);
    if (config_copy(&srv->cfg, cfg) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    repl_mailbox();
    if (!g_mb_ok) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        config_free(&srv->cfg);
        return -1;
    }
    srv->nshards = g_nshards;
    master_new_replid(srv);
    srv->master_repl_offset = 0;
    g_master.no_replicas_since_ms = rk_mstime();
    rk_loop_config lc;
    memset(&lc, 0, sizeof(lc));
    lc.backend = (enum rk_backend)srv->cfg.io_backend; /* the same backend as the shards (--io-backend) */
    lc.wake_fd = srv->mb.efd;
    lc.tick_ms = TICK_MS;
    lc.max_conns = 10000;
    lc.ud = srv;
    lc.h.on_accept = on_accept;
    lc.h.on_data = on_data;
    lc.h.on_close = on_close;
    lc.h.on_wake = on_wake;
    lc.h.on_tick = on_tick;
    lc.h.before_wait = before_wait;
    srv->loop = rk_loop_create(&lc, err, errlen);
    if (!srv->loop) {
        config_free(&srv->cfg);
        return -1;
    }
    if (pthread_create(&g_thread, NULL, thread_main, srv) != 0) {
        snprintf(err, errlen, "cannot start the replication thread");
        rk_loop_destroy(srv->loop);
        config_free(&srv->cfg);
        return -1;
    }
    g_running = 1;
    return 0;
}

void repl_stop(void) {
    repl_server *srv = &g_srv;
    if (!g_running) return;
    rk_loop_stop(srv->loop);
    pthread_join(g_thread, NULL);
    g_running = 0;
    /* Held WAITs are answered with what the replicas acked. */
    struct repl_master *mm = srv->master;
    while (mm->waits) {
        repl_cmd_msg *m = mm->waits;
        mm->waits = m->next;
        wait_answer(srv, m, ((wait_state *)m->wait_state)->target);
    }
    replica_free(srv);
    /* Messages that came meanwhile: WAITs and commands are answered, the rest freed. */
    rk_msg *m;
    while ((m = rk_mailbox_pop(&srv->mb)) != NULL) {
        if (m->type == MSG_REPL_CMD) {
            repl_cmd_msg *c = (repl_cmd_msg *)m;
            rk_reply rep = {&c->reply, c->resp};
            reply_error(&rep, "ERR the server is shutting down");
            repl_cmd_answer(c);
        } else if (m->type == MSG_REPL_HANDOFF) {
            close(((repl_handoff_msg *)m)->fd);
            rk_buf_free(&((repl_handoff_msg *)m)->surplus);
            free(m);
        } else if (m->type == MSG_REPL_FEED_DATA) {
            rk_buf_free(&((repl_feed_msg *)m)->data);
            free(m);
        } else {
            free(m);
        }
    }
    rk_loop_destroy(srv->loop); /* closes the replicas' sockets */
    srv->loop = NULL;
    for (rreplica *r = mm->replicas, *n; r; r = n) {
        n = r->next;
        rk_buf_free(&r->kept);
        rk_buf_free(&r->in);
        resp_args_free(&r->args);
        free(r);
    }
    mm->replicas = NULL;
    if (mm->sync) {
        if (mm->sync->pipe_wfd >= 0) close(mm->sync->pipe_wfd);
        if (mm->sync->file_fd >= 0) close(mm->sync->file_fd);
        free(mm->sync);
        mm->sync = NULL;
    }
    queue_free_all(mm);
    repl_merge_free(mm->merge);
    mm->merge = NULL;
    rk_buf_free(&mm->out);
    backlog_free(srv->backlog);
    srv->backlog = NULL;
    /* The mailbox stays: a shard's feed may still push (bounded by its
     * credits) until the shards stop right after us. */
    config_free(&srv->cfg);
}
