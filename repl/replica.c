/* replica.c: a replica's role and its master link (issue 6).
 *
 * Owns: the role state (REPLICAOF / SLAVEOF, `replicaof` in the config), the
 * master link's bookkeeping for INFO and ROLE, and the master link thread
 * that does the handshake and the transfer.
 *
 * Threads:
 *   - the replication thread ("repl thread") runs every replica_* function of
 *     repl_int.h and owns struct repl_replica and the repl_server fields it
 *     touches (replid, replid2, offsets, backlog, is_replica, view);
 *   - one master link thread per connection attempt (link_main): blocking
 *     I/O with poll() deadlines of repl-timeout: connect, PING, AUTH,
 *     REPLCONF, PSYNC (or SYNC), the RDB payload into a temporary file,
 *     the load into the shards (storage/rdb_load.c wants a non-shard thread),
 *     then it hands the socket to the repl thread and exits. It talks to the
 *     repl thread only by messages (replica_link_msg, MSG_REPL_LINK_EVENT)
 *     and reads only the attempt's inputs, which are written before
 *     pthread_create and never change. The repl thread talks back over the
 *     attempt's control pipe: 'C' cancels (any blocking wait returns), 'G'
 *     allows the load;
 *   - shard 0 runs the master client (repl/replica_shard.c).
 *
 * Design notes (docs/replication.md has the plan):
 *   - The role is a target and a current state. REPLICAOF sets the target at
 *     once (its reply is Redis's), replica_step() moves the current state
 *     toward it. Two things make it wait: a master client still attached on
 *     shard 0 (DETACH, then LOST carries the exact offset applied, so a
 *     promotion's second_repl_offset and the next PSYNC offset are exact) and
 *     a load in progress (a load cannot be interrupted; as in Redis, where
 *     the load blocks the server, a REPLICAOF meanwhile takes effect after it).
 *   - The "cached master" of Redis is our own replid and master_repl_offset:
 *     after a sync they are the master's, so `PSYNC <replid> <offset + 1>`
 *     continues. have_cached says whether they may be offered (not after a
 *     start-up without a sync, nor after a failed load that emptied the data).
 *   - The load is asked for (LE_LOAD_REQ) and allowed ('G') by the repl
 *     thread: it first drops our own replicas and the backlog (their history
 *     ends), and it defers the load while our own replicas' snapshot needs
 *     the data still (replica_pause_apply).
 *   - While a load runs the link thread sends "\n" to the master every second
 *     (as Redis's replica does while loading) so the master does not time us
 *     out; the load itself runs on a helper thread.
 *   - Offsets: every byte shard 0 applied reaches us as MSG_REPL_APPLIED, in
 *     order and before LOST/PAUSED, so master_repl_offset equals shard 0's
 *     reploff whenever LOST or PAUSED arrives (asserted).
 *
 * Bounds: one attempt (one link thread) at a time; its input buffer holds at
 * most one reply line (LINK_MAX_LINE) or one read (LINK_READ_CHUNK) beyond
 * the consumed bytes; progress events at most one per 100 ms; retries once a
 * second. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "repl/replica_int.h"
#include "repl/repl_int.h"
#include "storage/aof.h"
#include "storage/rdb_file.h"
#include "storage/rdb_load.h"

#define LINK_MAX_LINE 1024
#define LINK_READ_CHUNK (64 * 1024)
#define LINK_FSYNC_EVERY (8 * 1024 * 1024) /* as Redis's REPL_MAX_WRITTEN_BEFORE_FSYNC */
#define LINK_PROGRESS_MS 100
#define RECONNECT_MS 1000

enum rstate { RS_NONE, RS_CONNECT, RS_CONNECTING, RS_HANDSHAKE, RS_TRANSFER, RS_CONNECTED };
enum { P_NONE, P_PENDING, P_ACTIVE };

/* ---- the attempt: shared inputs, link thread's private state ---- */
typedef struct link_attempt {
    pthread_t th;
    uint64_t id;
    int ctl[2];                  /* pipe: [0] read by the link thread, [1] written by the repl thread */
    int stream_db;               /* link thread only: the received RDB's repl-stream-db */
    /* Inputs, written before pthread_create, read-only afterwards. */
    char *host;
    int port;
    char *masterauth, *masteruser, *announce_ip;
    int announce_port;
    long long timeout_ms;
    char psync_id[41];
    long long psync_off;         /* -1 with "?" */
    char *dbfilename;
    /* Link thread only. */
    int fd;
    rk_buf in;
    char err[256];
} link_attempt;

/* MSG_REPL_LINK_EVENT: link thread -> repl thread. */
enum { LE_STATE, LE_PROGRESS, LE_LOAD_REQ, LE_DONE, LE_FAILED };
typedef struct replica_link_msg {
    rk_msg m;
    uint64_t attempt;
    int kind;
    int state;                   /* LE_STATE: RS_HANDSHAKE or RS_TRANSFER */
    long long total, read;       /* LE_STATE(TRANSFER) and LE_PROGRESS */
    /* LE_DONE */
    int full;                    /* 1: full sync, loaded; 0: partial */
    int fd;
    char replid[41];             /* full: the master's; partial: +CONTINUE's id, "" none */
    long long offset;            /* full: +FULLRESYNC's offset, -1 after SYNC */
    int stream_db;               /* full: the RDB's repl-stream-db (0 without) */
    rk_buf surplus;
    /* LE_FAILED */
    int loaded;                  /* the load ran (and failed): the data is gone */
} replica_link_msg;

struct repl_replica {
    /* Target: the last REPLICAOF (or the config). */
    int want_replica;
    char *want_host;
    int want_port;
    /* Current. */
    char *host;
    int port;
    int state;
    int have_cached;
    link_attempt *att;
    uint64_t attempts;
    int att_loading;             /* 'G' sent, the load runs */
    int stream_db;               /* the master stream's database at the last PAUSED/LOST/full sync */
    int load_deferred;           /* LE_LOAD_REQ waits for the pause to end */
    int64_t next_connect_ms;
    int attached, detaching;
    int64_t down_since;          /* unix seconds, 0 = never up */
    int64_t last_io;             /* unix seconds of the last bytes applied */
    long long read_reploff;
    long long xfer_total, xfer_read;
    int64_t xfer_lastio;
    int pause_state;
    replica_paused_cb *pause_cb;
    void *pause_ud;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t unix_s(void)
{
    return (int64_t)time(NULL);
}

/* ========================================================================
 * The master link thread
 * ======================================================================== */

static void link_send_event(replica_link_msg *ev)
{
    ev->m.type = MSG_REPL_LINK_EVENT;
    repl_send(&ev->m);
}

static replica_link_msg *link_event_new(link_attempt *a, int kind)
{
    replica_link_msg *ev = calloc(1, sizeof(*ev));
    if (!ev) return NULL;
    ev->attempt = a->id;
    ev->kind = kind;
    ev->fd = -1;
    return ev;
}

/* Best effort: a lost progress event only makes INFO older. */
static void link_event_simple(link_attempt *a, int kind, int state, long long total, long long read)
{
    replica_link_msg *ev = link_event_new(a, kind);
    if (!ev) return;
    ev->state = state;
    ev->total = total;
    ev->read = read;
    link_send_event(ev);
}

static int link_canceled(link_attempt *a)
{
    struct pollfd p = {a->ctl[0], POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* Waits until fd is ready for events, the deadline passes (-1, ETIMEDOUT)
 * or the repl thread cancels (-1, ECANCELED). deadline_ms < 0: no deadline. */
static int link_wait(link_attempt *a, int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int timeout = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - mono_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            timeout = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd p[2] = {{a->ctl[0], POLLIN, 0}, {fd, events, 0}};
        int n = poll(p, fd >= 0 ? 2 : 1, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (p[0].revents) {
            errno = ECANCELED;
            return -1;
        }
        if (n > 0 && p[1].revents) return 0;
    }
}

static void link_errno(link_attempt *a)
{
    snprintf(a->err, sizeof(a->err), "%s",
             errno == ETIMEDOUT ? "Resource temporarily unavailable" : strerror(errno));
}

static int link_write_all(link_attempt *a, const char *p, size_t n)
{
    while (n > 0) {
        if (link_wait(a, a->fd, POLLOUT, mono_ms() + a->timeout_ms) < 0) {
            link_errno(a);
            return -1;
        }
        ssize_t w = send(a->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            link_errno(a);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads what the socket has (waiting up to repl-timeout) into a->in.
 * Returns the bytes read, or -1 (a->err says why; errno ETIMEDOUT /
 * ECANCELED kept). */
static ssize_t link_fill(link_attempt *a)
{
    if (rk_buf_reserve(&a->in, LINK_READ_CHUNK) < 0) {
        snprintf(a->err, sizeof(a->err), "out of memory");
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        if (link_wait(a, a->fd, POLLIN, mono_ms() + a->timeout_ms) < 0) {
            link_errno(a);
            return -1;
        }
        ssize_t r = recv(a->fd, a->in.data + a->in.len, LINK_READ_CHUNK, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            link_errno(a);
            return -1;
        }
        if (r == 0) {
            snprintf(a->err, sizeof(a->err), "connection lost");
            errno = ECONNRESET;
            return -1;
        }
        a->in.len += (size_t)r;
        return r;
    }
}

/* One reply line without its "\r\n" (Redis's syncReadLine). 0, or -1. */
static int link_read_line(link_attempt *a, char *line, size_t cap)
{
    for (;;) {
        char *nl = a->in.len ? memchr(a->in.data, '\n', a->in.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - a->in.data);
            size_t keep = n;
            if (keep > 0 && a->in.data[keep - 1] == '\r') keep--;
            if (keep >= cap) keep = cap - 1;
            memcpy(line, a->in.data, keep);
            line[keep] = '\0';
            rk_buf_consume(&a->in, n + 1);
            return 0;
        }
        if (a->in.len >= LINK_MAX_LINE) {
            snprintf(a->err, sizeof(a->err), "line too long");
            return -1;
        }
        if (link_fill(a) < 0) return -1;
    }
}

/* Sends a command as a RESP array. 0, or -1 with a->err. */
static int link_command(link_attempt *a, int argc, const char **argv)
{
    rk_buf b;
    rk_buf_init(&b);
    int rc = rk_buf_printf(&b, "*%d\r\n", argc);
    for (int i = 0; i < argc && rc == 0; i++) {
        size_t n = strlen(argv[i]);
        rc = rk_buf_printf(&b, "$%zu\r\n", n);
        if (rc == 0) rc = rk_buf_append(&b, argv[i], n);
        if (rc == 0) rc = rk_buf_append(&b, "\r\n", 2);
    }
    if (rc < 0) {
        snprintf(a->err, sizeof(a->err), "out of memory");
        rk_buf_free(&b);
        return -1;
    }
    rc = link_write_all(a, b.data, b.len);
    rk_buf_free(&b);
    return rc;
}

/* A command and its one-line reply: 0 with the reply in `reply`, -1 when the
 * command could not be written or no reply came (logged as Redis does). */
static int link_ask(link_attempt *a, int argc, const char **argv, char *reply, size_t cap)
{
    if (link_command(a, argc, argv) < 0) {
        if (errno == ECANCELED) return -1;
        rk_log(LL_WARNING, "Sending command to master in replication handshake: -Writing to master: %s",
               a->err);
        return -1;
    }
    if (link_read_line(a, reply, cap) < 0) {
        if (errno == ECANCELED) return -1;
        if (errno == ETIMEDOUT) {
            rk_log(LL_WARNING, "Timeout connecting to the MASTER...");
            return -1;
        }
        rk_log(LL_WARNING, "Failed to read response from the server: %s", a->err);
        rk_log(LL_WARNING, "Master did not respond to command during SYNC handshake");
        return -1;
    }
    return 0;
}

static int link_connect(link_attempt *a, int *async_err)
{
    *async_err = 0;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", a->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(a->host, portstr, &hints, &res);
    if (g != 0) {
        snprintf(a->err, sizeof(a->err), "%s", gai_strerror(g));
        return -1;
    }
    int64_t deadline = mono_ms() + a->timeout_ms;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            link_errno(a);
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            if (link_wait(a, fd, POLLOUT, deadline) == 0) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) break;
                errno = soerr ? soerr : errno;
                *async_err = 1; /* Redis sees it after its non-blocking connect */
            }
        }
        int e = errno;
        link_errno(a);
        close(fd);
        fd = -1;
        if (e == ECANCELED || e == ETIMEDOUT) {
            errno = e;
            break;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    a->fd = fd;
    return 0;
}

/* The load runs here while the link thread keeps the master link alive. */
typedef struct load_job {
    const char *path;
    int wake_fd;                 /* written once when done */
    int rc;
    rdb_load_result res;
    char err[512];
} load_job;

static void *load_main(void *arg)
{
    load_job *j = arg;
    j->rc = rdb_load_into_shards_flags(j->path, RDB_LOAD_KEEP_EXPIRED, &j->res, j->err, sizeof(j->err));
    char c = 1;
    while (write(j->wake_fd, &c, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* Loads the file; "\n" to the master every second meanwhile. 0 or -1. */
static int link_load(link_attempt *a, char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    load_job j;
    memset(&j, 0, sizeof(j));
    j.path = a->dbfilename;
    j.wake_fd = p[1];
    pthread_t th;
    int e = pthread_create(&th, NULL, load_main, &j);
    if (e != 0) {
        close(p[0]);
        close(p[1]);
        snprintf(err, errlen, "pthread_create: %s", strerror(e));
        return -1;
    }
    for (;;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        int n = poll(&pf, 1, 1000);
        if (n > 0) break;
        if (n == 0) {
            /* Keep-alive; a full socket buffer or a dead link is found later. */
            ssize_t w = send(a->fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)w;
        }
    }
    pthread_join(th, NULL);
    close(p[0]);
    close(p[1]);
    if (j.rc != 0) {
        snprintf(err, errlen, "%s", j.rc > 0 ? "the file does not exist" : j.err);
        return -1;
    }
    /* The load bypassed the journal: the AOF must restart from the new data
     * (Redis 7.0's restartAOFAfterSYNC); a no-op with the AOF off. */
    if (aof_request_rewrite() < 0)
        rk_log(LL_WARNING, "Out of memory asking for the AOF rewrite after the sync: run BGREWRITEAOF");
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0) n = 1;
        if (n >= sizeof(dir)) n = sizeof(dir) - 1;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Where the EOF mark ends inside chunk p[0, n) (1..n), 0 when it does not:
 * tail holds the last 40 bytes before p (the first `got` of them only when
 * fewer were read). */
static size_t mark_end(const char *tail, long long got, const char *p, size_t n, const char *mark)
{
    char seam[2 * REPL_ID_LEN];
    size_t t = got < REPL_ID_LEN - 1 ? (size_t)got : REPL_ID_LEN - 1;
    size_t h = n < REPL_ID_LEN - 1 ? n : REPL_ID_LEN - 1;
    memcpy(seam, tail + REPL_ID_LEN - t, t);
    memcpy(seam + t, p, h);
    const char *m = memmem(seam, t + h, mark, REPL_ID_LEN);
    if (m) return (size_t)(m - seam) + REPL_ID_LEN - t;
    m = memmem(p, n, mark, REPL_ID_LEN);
    return m ? (size_t)(m - p) + REPL_ID_LEN : 0;
}

/* The payload after PSYNC/SYNC: to a temporary file, renamed to
 * dbfilename, then loaded. 0, or -1 (logged); *loaded says whether the
 * shards' data was touched. */
/* The repl-stream-db AUX field of the RDB at path (rdbPopulateSaveInfo):
 * the database the master's stream continues in after the transfer. A
 * chained replica's stream has no SELECT at the cut, so its replicas must
 * start there. 0 when absent or unreadable (a master's stream opens with a
 * SELECT anyway). Reads only the header's first bytes. */
static int rdb_stream_db(const char *path)
{
    unsigned char buf[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n <= 0) return 0;
    rdb_walker w;
    char err[128];
    int db = 0;
    if (rdb_walker_init(&w, buf, (size_t)n, err, sizeof(err)) == 0) {
        rdb_item it;
        while (rdb_walker_next(&w, &it) == 1 && it.kind == RDB_ITEM_AUX) {
            if (strcmp(it.aux_name, "repl-stream-db") == 0) {
                long long v = strtoll(it.aux_val, NULL, 10);
                if (v > 0 && v < INT32_MAX) db = (int)v;
                break;
            }
        }
    }
    rdb_walker_release(&w);
    return db;
}

static int link_transfer(link_attempt *a, int *loaded)
{
    char tmpfile[256];
    int dfd = -1;
    *loaded = 0;
    for (int tries = 5; tries > 0; tries--) {
        snprintf(tmpfile, sizeof(tmpfile), "temp-%d.%ld.rdb", (int)time(NULL), (long)getpid());
        dfd = open(tmpfile, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);
        if (dfd >= 0) break;
        if (link_wait(a, -1, 0, mono_ms() + 1000) < 0 && errno == ECANCELED) return -1;
    }
    if (dfd < 0) {
        rk_log(LL_WARNING, "Opening the temp file needed for MASTER <-> REPLICA synchronization: %s",
               strerror(errno));
        return -1;
    }

    /* The bulk header, after "\n" keep-alives. */
    char line[LINK_MAX_LINE];
    for (;;) {
        if (link_read_line(a, line, sizeof(line)) < 0) {
            if (errno != ECANCELED) {
                if (errno == ETIMEDOUT)
                    rk_log(LL_WARNING, "Timeout receiving bulk data from MASTER... If the problem persists try "
                                       "to set the 'repl-timeout' parameter in redis.conf to a larger value.");
                else
                    rk_log(LL_WARNING, "I/O error reading bulk count from MASTER: %s", a->err);
            }
            goto fail;
        }
        if (line[0] != '\0') break;
    }
    if (line[0] == '-') {
        rk_log(LL_WARNING, "MASTER aborted replication with an error: %s", line + 1);
        goto fail;
    }
    if (line[0] != '$') {
        rk_log(LL_WARNING,
               "Bad protocol from MASTER, the first byte is not '$' (we received '%s'), are you sure the host "
               "and port are right?",
               line);
        goto fail;
    }
    int usemark = 0;
    char eofmark[REPL_ID_LEN], lastbytes[REPL_ID_LEN];
    long long size = 0;
    if (strncmp(line + 1, "EOF:", 4) == 0 && strlen(line + 5) >= REPL_ID_LEN) {
        usemark = 1;
        memcpy(eofmark, line + 5, REPL_ID_LEN);
        memset(lastbytes, 0, sizeof(lastbytes));
        rk_log(LL_NOTICE, "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk");
    } else {
        char *end = NULL;
        errno = 0;
        size = strtoll(line + 1, &end, 10);
        if (errno || end == line + 1 || *end != '\0' || size < 0) {
            rk_log(LL_WARNING,
                   "Bad protocol from MASTER, the first byte is not '$' (we received '%s'), are you sure the "
                   "host and port are right?",
                   line);
            goto fail;
        }
        rk_log(LL_NOTICE, "MASTER <-> REPLICA sync: receiving %lld bytes from master to disk", size);
    }
    link_event_simple(a, LE_STATE, RS_TRANSFER, size, 0);

    long long got = 0, synced = 0;
    int64_t last_progress = mono_ms();
    for (;;) {
        if (a->in.len == 0 && !(usemark == 0 && got == size)) {
            if (link_fill(a) < 0) {
                if (errno == ECANCELED) goto fail;
                if (errno == ETIMEDOUT)
                    rk_log(LL_WARNING, "Timeout receiving bulk data from MASTER... If the problem persists try "
                                       "to set the 'repl-timeout' parameter in redis.conf to a larger value.");
                else
                    rk_log(LL_WARNING, "I/O error trying to sync with MASTER: %s", a->err);
                goto fail;
            }
        }
        size_t take = a->in.len;
        if (!usemark && (long long)take > size - got) take = (size_t)(size - got);
        int eof = 0;
        if (take > 0) {
            const char *p = a->in.data;
            if (usemark) {
                /* Redis compares only the last 40 bytes read: its masters
                 * send nothing after the mark before our first ACK. A
                 * master that streams on at once would leave the mark inside
                 * a read, so look for it anywhere, across the seam too. */
                size_t end = mark_end(lastbytes, got, p, take, eofmark);
                if (end) {
                    take = end;
                    eof = 1;
                }
                if (take >= REPL_ID_LEN) {
                    memcpy(lastbytes, p + take - REPL_ID_LEN, REPL_ID_LEN);
                } else {
                    memmove(lastbytes, lastbytes + take, REPL_ID_LEN - take);
                    memcpy(lastbytes + REPL_ID_LEN - take, p, take);
                }
            }
            size_t off = 0;
            while (off < take) {
                ssize_t w = write(dfd, p + off, take - off);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    rk_log(LL_WARNING,
                           "Write error or short write writing to the DB dump file needed for MASTER <-> "
                           "REPLICA synchronization: %s",
                           strerror(errno));
                    goto fail;
                }
                off += (size_t)w;
            }
            rk_buf_consume(&a->in, take);
            got += (long long)take;
        }
        if (usemark && eof) {
            if (ftruncate(dfd, got - REPL_ID_LEN) < 0) {
                rk_log(LL_WARNING, "Error truncating the RDB file received from the master for SYNC: %s",
                       strerror(errno));
                goto fail;
            }
        }
        if (got >= synced + LINK_FSYNC_EVERY) {
            (void)sync_file_range(dfd, synced, got - synced, SYNC_FILE_RANGE_WRITE);
            synced = got;
        }
        if (!usemark && got == size) eof = 1;
        int64_t now = mono_ms();
        if (eof || now - last_progress >= LINK_PROGRESS_MS) {
            link_event_simple(a, LE_PROGRESS, 0, size, got);
            last_progress = now;
        }
        if (eof) break;
    }

    if (fsync(dfd) < 0) {
        rk_log(LL_WARNING,
               "Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: %s",
               strerror(errno));
        goto fail;
    }
    close(dfd);
    dfd = -1;
    a->stream_db = rdb_stream_db(tmpfile);

    /* The repl thread drops our own replicas and the backlog first, and may
     * hold the load while our replicas' snapshot still reads the data. */
    if (link_canceled(a)) goto fail;
    link_event_simple(a, LE_LOAD_REQ, 0, 0, 0);
    char go = 0;
    for (;;) {
        ssize_t n = read(a->ctl[0], &go, 1); /* blocking: the repl thread answers 'G' or 'C' */
        if (n == 1) break;
        if (n < 0 && errno == EINTR) continue;
        goto fail;
    }
    if (go != 'G') goto fail;

    if (rename(tmpfile, a->dbfilename) < 0) {
        rk_log(LL_WARNING,
               "Failed trying to rename the temp DB into %s in MASTER <-> REPLICA synchronization: %s",
               a->dbfilename, strerror(errno));
        unlink(tmpfile);
        return -1;
    }
    if (fsync_dir_of(a->dbfilename) < 0) {
        rk_log(LL_WARNING, "Failed trying to sync DB directory %s in MASTER <-> REPLICA synchronization: %s",
               a->dbfilename, strerror(errno));
        return -1;
    }
    rk_log(LL_NOTICE, "MASTER <-> REPLICA sync: Flushing old data");
    rk_log(LL_NOTICE, "MASTER <-> REPLICA sync: Loading DB in memory");
    *loaded = 1;
    char err[600];
    if (link_load(a, err, sizeof(err)) < 0) {
        rk_log(LL_WARNING, "Failed trying to load the MASTER synchronization DB from disk: %s", err);
        return -1;
    }
    return 0;

fail:
    if (dfd >= 0) close(dfd);
    unlink(tmpfile);
    return -1;
}

/* The handshake and the sync; on success fills ev (LE_DONE). 0 or -1. */
static int link_run(link_attempt *a, replica_link_msg *ev, int *loaded)
{
    char reply[LINK_MAX_LINE];
    *loaded = 0;
    int async_err;
    if (link_connect(a, &async_err) < 0) {
        if (errno == ECANCELED) return -1;
        if (errno == ETIMEDOUT)
            rk_log(LL_WARNING, "Timeout connecting to the MASTER...");
        else if (async_err)
            rk_log(LL_WARNING, "Error condition on socket for SYNC: %s", a->err);
        else
            rk_log(LL_WARNING, "Unable to connect to MASTER: %s", a->err);
        return -1;
    }
    rk_log(LL_NOTICE, "Non blocking connect for SYNC fired the event.");
    link_event_simple(a, LE_STATE, RS_HANDSHAKE, 0, 0);

    const char *ping[] = {"PING"};
    if (link_ask(a, 1, ping, reply, sizeof(reply)) < 0) return -1;
    if (reply[0] != '+' && strncmp(reply, "-NOAUTH", 7) != 0 && strncmp(reply, "-NOPERM", 7) != 0 &&
        strncmp(reply, "-ERR operation not permitted", 28) != 0) {
        rk_log(LL_WARNING, "Error reply to PING from master: '%s'", reply);
        return -1;
    }
    rk_log(LL_NOTICE, "Master replied to PING, replication can continue...");

    if (a->masterauth) {
        const char *auth[3] = {"AUTH", NULL, NULL};
        int argc = 1;
        if (a->masteruser) auth[argc++] = a->masteruser;
        auth[argc++] = a->masterauth;
        if (link_ask(a, argc, auth, reply, sizeof(reply)) < 0) return -1;
        if (reply[0] == '-') {
            rk_log(LL_WARNING, "Unable to AUTH to MASTER: %s", reply);
            return -1;
        }
    }
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", a->announce_port);
    const char *lport[] = {"REPLCONF", "listening-port", portstr};
    if (link_ask(a, 3, lport, reply, sizeof(reply)) < 0) return -1;
    if (reply[0] == '-')
        rk_log(LL_NOTICE, "(Non critical) Master does not understand REPLCONF listening-port: %s", reply);
    if (a->announce_ip) {
        const char *ip[] = {"REPLCONF", "ip-address", a->announce_ip};
        if (link_ask(a, 3, ip, reply, sizeof(reply)) < 0) return -1;
        if (reply[0] == '-')
            rk_log(LL_NOTICE, "(Non critical) Master does not understand REPLCONF ip-address: %s", reply);
    }
    const char *capa[] = {"REPLCONF", "capa", "eof", "capa", "psync2"};
    if (link_ask(a, 5, capa, reply, sizeof(reply)) < 0) return -1;
    if (reply[0] == '-')
        rk_log(LL_NOTICE, "(Non critical) Master does not understand REPLCONF capa: %s", reply);

    char offstr[32];
    if (a->psync_off >= 0) {
        snprintf(offstr, sizeof(offstr), "%lld", a->psync_off);
        rk_log(LL_NOTICE, "Trying a partial resynchronization (request %s:%s).", a->psync_id, offstr);
    } else {
        snprintf(offstr, sizeof(offstr), "-1");
        rk_log(LL_NOTICE, "Partial resynchronization not possible (no cached master)");
    }
    const char *psync[] = {"PSYNC", a->psync_off >= 0 ? a->psync_id : "?", offstr};
    if (link_command(a, 3, psync) < 0) {
        if (errno != ECANCELED) rk_log(LL_WARNING, "Unable to send PSYNC to master: -Writing to master: %s", a->err);
        return -1;
    }
    do {
        if (link_read_line(a, reply, sizeof(reply)) < 0) {
            if (errno != ECANCELED) {
                rk_log(LL_WARNING, "Failed to read response from the server: %s", a->err);
                rk_log(LL_WARNING, "Master did not reply to PSYNC, will try later");
            }
            return -1;
        }
    } while (reply[0] == '\0'); /* keep-alives before the reply */

    ev->replid[0] = '\0';
    if (strncmp(reply, "+FULLRESYNC", 11) == 0) {
        char *id = strchr(reply, ' ');
        char *off = id ? strchr(id + 1, ' ') : NULL;
        if (!id || !off || off - id - 1 != REPL_ID_LEN) {
            rk_log(LL_WARNING, "Master replied with wrong +FULLRESYNC syntax.");
            /* The history is unknown: a fresh id, and no PSYNC against it. */
            ev->offset = -1;
        } else {
            memcpy(ev->replid, id + 1, REPL_ID_LEN);
            ev->replid[REPL_ID_LEN] = '\0';
            ev->offset = strtoll(off + 1, NULL, 10);
            rk_log(LL_NOTICE, "Full resync from master: %s:%lld", ev->replid, ev->offset);
        }
    } else if (strncmp(reply, "+CONTINUE", 9) == 0) {
        rk_log(LL_NOTICE, "Successful partial resynchronization with master.");
        const char *start = reply + 9;
        while (*start == ' ') start++;
        size_t n = strcspn(start, "\r\n ");
        if (n == REPL_ID_LEN) {
            memcpy(ev->replid, start, REPL_ID_LEN);
            ev->replid[REPL_ID_LEN] = '\0';
        }
        rk_log(LL_NOTICE, "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        ev->full = 0;
        return 0;
    } else if (strncmp(reply, "-NOMASTERLINK", 13) == 0 || strncmp(reply, "-LOADING", 8) == 0) {
        rk_log(LL_NOTICE, "Master is currently unable to PSYNC but should be in the future: %s", reply);
        return -1;
    } else {
        if (strncmp(reply, "-ERR", 4) != 0)
            rk_log(LL_WARNING, "Unexpected reply to PSYNC from master: %s", reply);
        else
            rk_log(LL_NOTICE, "Master does not support PSYNC or is in error state (reply: %s)", reply);
        rk_log(LL_NOTICE, "Retrying with SYNC...");
        if (link_write_all(a, "SYNC\r\n", 6) < 0) {
            if (errno != ECANCELED) rk_log(LL_WARNING, "I/O error writing to MASTER: %s", a->err);
            return -1;
        }
        ev->offset = -1;
    }
    /* Redis's REPL_STATE_TRANSFER starts here, the size still unknown (-1). */
    link_event_simple(a, LE_STATE, RS_TRANSFER, -1, 0);
    if (link_transfer(a, loaded) < 0) return -1;
    ev->full = 1;
    ev->stream_db = a->stream_db;
    return 0;
}

static void *link_main(void *arg)
{
    link_attempt *a = arg;
    replica_link_msg *ev = link_event_new(a, LE_DONE);
    int loaded = 0;
    int rc = ev ? link_run(a, ev, &loaded) : -1;
    if (!ev) rk_log(LL_WARNING, "Out of memory in the master link: will retry");
    if (link_canceled(a)) {
        /* The repl thread joins without waiting for a message; it only
         * cancels a load at shutdown. */
        if (ev) {
            rk_buf_free(&ev->surplus);
            free(ev);
        }
        if (a->fd >= 0) close(a->fd);
        a->fd = -1;
        return NULL;
    }
    if (rc == 0) {
        ev->fd = a->fd;
        a->fd = -1;
        /* Stream bytes read past the payload go with the socket. */
        ev->surplus = a->in;
        rk_buf_init(&a->in);
        link_send_event(ev);
        return NULL;
    }
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    if (!ev) ev = link_event_new(a, LE_FAILED);
    if (ev) {
        ev->kind = LE_FAILED;
        ev->loaded = loaded;
        link_send_event(ev);
    }
    /* Without a message the repl thread would wait forever: that needs an
     * allocation of a few bytes to fail twice; then the process has bigger
     * trouble, and the next REPLICAOF or restart recovers. */
    return NULL;
}

/* ========================================================================
 * The repl thread's side
 * ======================================================================== */

static void attempt_free(link_attempt *a)
{
    if (!a) return;
    if (a->ctl[0] >= 0) close(a->ctl[0]);
    if (a->ctl[1] >= 0) close(a->ctl[1]);
    if (a->fd >= 0) close(a->fd);
    rk_buf_free(&a->in);
    free(a->host);
    free(a->masterauth);
    free(a->masteruser);
    free(a->announce_ip);
    free(a->dbfilename);
    free(a);
}

static void ctl_write(link_attempt *a, char c)
{
    while (write(a->ctl[1], &c, 1) < 0 && errno == EINTR) {
    }
}

/* Stops the running attempt and joins its thread (short: every wait of the
 * link thread watches the control pipe; a load is never cancelled except at
 * shutdown, when waiting for it is right). Its messages still queued are
 * recognised as stale by their attempt id. */
static void attempt_cancel(struct repl_replica *r)
{
    if (!r->att) return;
    ctl_write(r->att, 'C');
    pthread_join(r->att->th, NULL);
    attempt_free(r->att);
    r->att = NULL;
    r->att_loading = 0;
    r->load_deferred = 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int attempt_start(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    assert(!r->att && !r->attached);
    link_attempt *a = calloc(1, sizeof(*a));
    if (!a) goto oom;
    a->ctl[0] = a->ctl[1] = -1;
    a->fd = -1;
    rk_buf_init(&a->in);
    a->id = ++r->attempts;
    a->host = strdup(r->host);
    a->port = r->port;
    a->masterauth = dup_or_null(srv->cfg.masterauth);
    a->masteruser = dup_or_null(srv->cfg.masteruser);
    a->announce_ip = dup_or_null(srv->cfg.replica_announce_ip);
    a->announce_port = srv->cfg.replica_announce_port ? (int)srv->cfg.replica_announce_port : srv->cfg.port;
    a->timeout_ms = (srv->cfg.repl_timeout > 0 ? srv->cfg.repl_timeout : 60) * 1000;
    a->dbfilename = strdup(srv->cfg.dbfilename ? srv->cfg.dbfilename : "dump.rdb");
    if (!a->host || !a->dbfilename || (srv->cfg.masterauth && !a->masterauth) ||
        (srv->cfg.masteruser && !a->masteruser) || (srv->cfg.replica_announce_ip && !a->announce_ip))
        goto oom;
    if (r->have_cached) {
        memcpy(a->psync_id, srv->replid, sizeof(a->psync_id));
        a->psync_off = srv->master_repl_offset + 1;
    } else {
        snprintf(a->psync_id, sizeof(a->psync_id), "?");
        a->psync_off = -1;
    }
    if (pipe2(a->ctl, O_CLOEXEC) < 0) {
        rk_log(LL_WARNING, "Unable to connect to MASTER: pipe: %s", strerror(errno));
        goto fail;
    }
    rk_log(LL_NOTICE, "Connecting to MASTER %s:%d", r->host, r->port);
    int e = pthread_create(&a->th, NULL, link_main, a);
    if (e != 0) {
        rk_log(LL_WARNING, "Unable to connect to MASTER: pthread_create: %s", strerror(e));
        goto fail;
    }
    r->att = a;
    r->state = RS_CONNECTING;
    r->xfer_lastio = unix_s();
    rk_log(LL_NOTICE, "MASTER <-> REPLICA sync started");
    return 0;
oom:
    rk_log(LL_WARNING, "Unable to connect to MASTER: out of memory");
fail:
    attempt_free(a);
    r->next_connect_ms = mono_ms() + RECONNECT_MS;
    return -1;
}

static void set_view(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    srv->view.is_replica = srv->is_replica;
    srv->view.link_up = srv->is_replica && r->attached && !r->detaching;
    repl_broadcast_view(srv, 0);
}

static void clear_replid2(repl_server *srv)
{
    memset(srv->replid2, '0', REPL_ID_LEN);
    srv->replid2[REPL_ID_LEN] = '\0';
    srv->second_repl_offset = -1;
}

static long long backlog_config_size(const repl_server *srv)
{
    long long sz = srv->cfg.repl_backlog_size;
    return sz < REPL_BACKLOG_MIN_SIZE ? REPL_BACKLOG_MIN_SIZE : sz;
}

static void pause_fire(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    assert(r->pause_state == P_PENDING);
    r->pause_state = P_ACTIVE;
    r->pause_cb(srv, r->pause_ud);
}

static void send_ctl(int type, long long reploff)
{
    repl_master_ctl_msg *m = calloc(1, sizeof(*m));
    if (!m) {
        /* A control message of a few bytes; without it the link state
         * would be wrong for good. */
        rk_log(LL_WARNING, "Out of memory sending a master link control message: aborting");
        abort();
    }
    m->m.type = type;
    m->reploff = reploff;
    shard_send(0, &m->m);
}

/* The master client on shard 0 takes the socket. */
static void attach(repl_server *srv, int fd, rk_buf *surplus, int dbid)
{
    struct repl_replica *r = srv->replica;
    repl_attach_msg *m = calloc(1, sizeof(*m));
    if (!m) {
        rk_log(LL_WARNING, "Out of memory attaching the master link: will retry");
        close(fd);
        rk_buf_free(surplus);
        r->state = RS_CONNECT;
        r->next_connect_ms = mono_ms() + RECONNECT_MS;
        return;
    }
    m->m.type = MSG_REPL_MASTER_ATTACH;
    m->fd = fd;
    m->reploff = srv->master_repl_offset;
    m->dbid = dbid;
    m->surplus = *surplus;
    rk_buf_init(surplus);
    shard_send(0, &m->m);
    r->attached = 1;
    r->detaching = 0;
    r->state = RS_CONNECTED;
    r->down_since = 0;
    r->last_io = unix_s();
    r->read_reploff = srv->master_repl_offset;
    if (r->pause_state != P_NONE) send_ctl(MSG_REPL_MASTER_PAUSE, 0);
    set_view(srv);
}

static int target_is_current(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    if (r->want_replica != srv->is_replica) return 0;
    if (!r->want_replica) return 1;
    return r->host && strcasecmp(r->host, r->want_host) == 0 && r->port == r->want_port;
}

static void promote(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    if (r->have_cached) rk_log(LL_NOTICE, "Discarding previously cached master state.");
    master_shift_replid(srv);
    master_drop_replicas(srv, "the replica became a master");
    srv->is_replica = 0;
    r->state = RS_NONE;
    r->have_cached = 0;
    r->down_since = 0;
    free(r->host);
    r->host = NULL;
    r->port = 0;
    log_set_role('M');
    master_feeds_start(srv);
    set_view(srv);
}

/* Moves the current role toward the target; runs after anything that may
 * have unblocked it. */
static void replica_step(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    if (r->att_loading) return;
    if (target_is_current(srv)) {
        if (srv->is_replica && r->state == RS_CONNECT && !r->att && !r->attached &&
            mono_ms() >= r->next_connect_ms)
            attempt_start(srv);
        return;
    }
    attempt_cancel(r);
    if (r->attached) {
        if (!r->detaching) {
            r->detaching = 1;
            send_ctl(MSG_REPL_MASTER_DETACH, 0);
            set_view(srv);
        }
        return; /* LOST comes back with the exact offset */
    }
    if (!r->want_replica) {
        promote(srv);
        return;
    }
    if (!srv->is_replica) {
        rk_log(LL_NOTICE, "Before turning into a replica, using my own master parameters to synthesize a "
                          "cached master: I may be able to synchronize with the new master with just a "
                          "partial transfer.");
        master_feeds_stop(srv);
        srv->is_replica = 1;
        r->have_cached = 1;
        log_set_role('S');
    }
    char *h = strdup(r->want_host);
    if (!h) {
        rk_log(LL_WARNING, "Out of memory setting the master: will retry");
        r->next_connect_ms = mono_ms() + RECONNECT_MS;
        return;
    }
    free(r->host);
    r->host = h;
    r->port = r->want_port;
    r->state = RS_CONNECT;
    r->next_connect_ms = mono_ms();
    set_view(srv);
    attempt_start(srv);
}

int replica_init(repl_server *srv)
{
    struct repl_replica *r = calloc(1, sizeof(*r));
    if (!r) return -1;
    srv->replica = r;
    if (srv->cfg.replicaof_host) {
        r->want_host = strdup(srv->cfg.replicaof_host);
        r->host = strdup(srv->cfg.replicaof_host);
        if (!r->want_host || !r->host) {
            free(r->want_host);
            free(r->host);
            free(r);
            srv->replica = NULL;
            return -1;
        }
        r->want_replica = 1;
        r->want_port = r->port = srv->cfg.replicaof_port;
        srv->is_replica = 1;
        r->state = RS_CONNECT;
        r->next_connect_ms = mono_ms();
        log_set_role('S');
        set_view(srv);
    }
    return 0;
}

void replica_free(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    if (!r) return;
    attempt_cancel(r);
    free(r->want_host);
    free(r->host);
    free(r);
    srv->replica = NULL;
}

void replica_cron(repl_server *srv)
{
    if (srv->replica) replica_step(srv);
}

/* Redis's getRangeLongFromObjectOrReply for a port: the whole argument an
 * integer in [0, 65535]. */
static int parse_port(rk_slice s, int *port)
{
    if (s.len == 0 || s.len > 20) return -1;
    char buf[24];
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end != '\0' || end == buf || buf[0] == ' ' || buf[0] == '+') return -1;
    if (v < 0 || v > 65535) return -1;
    *port = (int)v;
    return 0;
}

void replica_cmd_replicaof(repl_server *srv, repl_cmd_msg *m)
{
    struct repl_replica *r = srv->replica;
    rk_reply rep = {&m->reply, m->resp};
    if (m->argc != 3) {
        char name[32];
        size_t n = m->argv[0].len < sizeof(name) - 1 ? m->argv[0].len : sizeof(name) - 1;
        for (size_t i = 0; i < n; i++) {
            char c = m->argv[0].ptr[i];
            name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        name[n] = '\0';
        reply_errorf(&rep, "ERR wrong number of arguments for '%s' command", name);
        return;
    }
    if (rk_slice_eq_nocase(m->argv[1], "no") && rk_slice_eq_nocase(m->argv[2], "one")) {
        if (r->want_replica) {
            r->want_replica = 0;
            free(r->want_host);
            r->want_host = NULL;
            r->want_port = 0;
            rk_log(LL_NOTICE, "MASTER MODE enabled (user request from 'id=%llu')",
                   (unsigned long long)m->client_id);
            replica_step(srv);
        }
        reply_ok(&rep);
        return;
    }
    int port;
    if (parse_port(m->argv[2], &port) < 0) {
        reply_error(&rep, "ERR Invalid master port");
        return;
    }
    if (r->want_replica && strlen(r->want_host) == m->argv[1].len &&
        strncasecmp(r->want_host, m->argv[1].ptr, m->argv[1].len) == 0 && r->want_port == port) {
        rk_log(LL_NOTICE, "REPLICAOF would result into synchronization with the master we are already "
                          "connected with. No operation performed.");
        reply_simple(&rep, "OK Already connected to specified master");
        return;
    }
    char *h = malloc(m->argv[1].len + 1);
    if (!h) {
        reply_error(&rep, "ERR out of memory");
        return;
    }
    memcpy(h, m->argv[1].ptr, m->argv[1].len);
    h[m->argv[1].len] = '\0';
    free(r->want_host);
    r->want_host = h;
    r->want_port = port;
    r->want_replica = 1;
    replica_step(srv);
    rk_log(LL_NOTICE, "REPLICAOF %s:%d enabled (user request from 'id=%llu')", h, port,
           (unsigned long long)m->client_id);
    reply_ok(&rep);
}

/* ---- messages ---- */

/* The link thread may load (LE_LOAD_REQ): as Redis's
 * replicationAttachToNewMaster, our replicas' history ends here. */
static void start_load(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    assert(r->att && !r->att_loading);
    r->load_deferred = 0;
    r->have_cached = 0;
    master_drop_replicas(srv, "the replica is loading a full sync from its master");
    backlog_free(srv->backlog);
    srv->backlog = NULL;
    r->att_loading = 1;
    ctl_write(r->att, 'G');
}

static void link_event(repl_server *srv, replica_link_msg *ev)
{
    struct repl_replica *r = srv->replica;
    if (!r->att || ev->attempt != r->att->id) {
        /* From a cancelled attempt (already joined). */
        if (ev->fd >= 0) close(ev->fd);
        rk_buf_free(&ev->surplus);
        free(ev);
        return;
    }
    switch (ev->kind) {
    case LE_STATE:
        r->state = ev->state;
        if (ev->state == RS_TRANSFER) {
            r->xfer_total = ev->total;
            r->xfer_read = 0;
        }
        r->xfer_lastio = unix_s();
        break;
    case LE_PROGRESS:
        r->xfer_read = ev->read;
        r->xfer_lastio = unix_s();
        break;
    case LE_LOAD_REQ:
        if (r->pause_state != P_NONE)
            r->load_deferred = 1;
        else
            start_load(srv);
        break;
    case LE_DONE:
    case LE_FAILED:
        pthread_join(r->att->th, NULL);
        attempt_free(r->att);
        r->att = NULL;
        r->att_loading = 0;
        if (ev->kind == LE_FAILED) {
            r->state = RS_CONNECT;
            r->next_connect_ms = mono_ms() + RECONNECT_MS;
            if (ev->loaded) r->have_cached = 0; /* the shards' data was emptied */
        } else if (ev->full) {
            /* The master's history from here; our replicas were dropped and
             * the backlog freed when the load began. */
            if (ev->offset >= 0 && ev->replid[0]) {
                memcpy(srv->replid, ev->replid, sizeof(srv->replid));
                srv->master_repl_offset = ev->offset;
                r->have_cached = 1;
            } else {
                /* SYNC, or a malformed +FULLRESYNC: no PSYNC against it. */
                master_new_replid(srv);
                srv->master_repl_offset = 0;
                r->have_cached = 0;
            }
            clear_replid2(srv);
            backlog_free(srv->backlog);
            srv->backlog = backlog_create(backlog_config_size(srv), srv->master_repl_offset);
            if (!srv->backlog) rk_log(LL_WARNING, "Out of memory creating the replication backlog");
            rk_log(LL_NOTICE, "MASTER <-> REPLICA sync: Finished with success");
        } else {
            if (ev->replid[0] && strcasecmp(ev->replid, srv->replid) != 0) {
                rk_log(LL_WARNING, "Master replication ID changed to %s", ev->replid);
                memcpy(srv->replid2, srv->replid, sizeof(srv->replid2));
                srv->second_repl_offset = srv->master_repl_offset + 1;
                memcpy(srv->replid, ev->replid, sizeof(srv->replid));
                master_drop_replicas(srv, "the master's replication ID changed");
            }
            if (!srv->backlog) {
                srv->backlog = backlog_create(backlog_config_size(srv), srv->master_repl_offset);
                if (!srv->backlog) rk_log(LL_WARNING, "Out of memory creating the replication backlog");
            }
            r->have_cached = 1;
        }
        if (r->pause_state == P_PENDING && !r->attached) pause_fire(srv);
        if (ev->kind == LE_DONE) {
            if (target_is_current(srv)) {
                if (ev->full) r->stream_db = ev->stream_db;
                attach(srv, ev->fd, &ev->surplus, r->stream_db);
                ev->fd = -1;
            } else {
                /* A REPLICAOF came during the load: it applies now. */
                close(ev->fd);
                ev->fd = -1;
                r->state = RS_CONNECT;
            }
        }
        r->load_deferred = 0;
        rk_buf_free(&ev->surplus);
        free(ev);
        replica_step(srv);
        return;
    }
    free(ev);
}

void replica_thread_msg(repl_server *srv, rk_msg *m)
{
    struct repl_replica *r = srv->replica;
    switch (m->type) {
    case MSG_REPL_APPLIED: {
        replica_applied_msg *am = (replica_applied_msg *)m;
        master_feed_stream(srv, am->a.data.data, am->a.data.len);
        assert(srv->master_repl_offset == am->reploff);
        r->last_io = unix_s();
        r->read_reploff = am->read_reploff;
        rk_buf_clear(&am->a.data);
        m->type = MSG_REPL_APPLIED_BACK;
        shard_send(0, m);
        return;
    }
    case MSG_REPL_MASTER_LOST: {
        repl_master_ctl_msg *c = (repl_master_ctl_msg *)m;
        assert(r->attached);
        assert(srv->master_repl_offset == c->reploff);
        r->stream_db = c->dbid;
        free(m);
        r->attached = 0;
        r->detaching = 0;
        r->have_cached = 1;
        if (srv->is_replica) {
            rk_log(LL_NOTICE, "Connection with master lost.");
            rk_log(LL_NOTICE, "Caching the disconnected master state.");
            r->state = RS_CONNECT;
            r->down_since = unix_s();
            /* Reconnect at once (as Redis): the backlog may not wait. */
            r->next_connect_ms = mono_ms();
            if (target_is_current(srv)) rk_log(LL_NOTICE, "Reconnecting to MASTER %s:%d", r->host, r->port);
        }
        if (r->pause_state == P_PENDING) pause_fire(srv);
        set_view(srv);
        replica_step(srv);
        return;
    }
    case MSG_REPL_MASTER_PAUSED: {
        repl_master_ctl_msg *c = (repl_master_ctl_msg *)m;
        long long off = c->reploff;
        r->stream_db = c->dbid;
        free(m);
        if (r->pause_state != P_PENDING) return; /* resumed meanwhile, or paused already */
        assert(srv->master_repl_offset == off);
        pause_fire(srv);
        return;
    }
    case MSG_REPL_LINK_EVENT:
        link_event(srv, (replica_link_msg *)m);
        return;
    default:
        rk_log(LL_WARNING, "Replication thread: unexpected replica message %d", m->type);
        free(m);
        return;
    }
}

int replica_pause_apply(repl_server *srv, replica_paused_cb *cb, void *ud)
{
    struct repl_replica *r = srv->replica;
    if (r->pause_state != P_NONE) return -1;
    r->pause_cb = cb;
    r->pause_ud = ud;
    r->pause_state = P_PENDING;
    if (r->attached) {
        if (!r->detaching) send_ctl(MSG_REPL_MASTER_PAUSE, 0);
        return 0; /* PAUSED, or LOST, fires it */
    }
    if (r->att_loading) return 0; /* the load's end fires it */
    pause_fire(srv);
    return 0;
}

int replica_stream_db(const repl_server *srv)
{
    return srv->replica->stream_db;
}

void replica_resume_apply(repl_server *srv)
{
    struct repl_replica *r = srv->replica;
    if (r->pause_state == P_NONE) return;
    r->pause_state = P_NONE;
    r->pause_cb = NULL;
    r->pause_ud = NULL;
    if (r->attached) send_ctl(MSG_REPL_MASTER_RESUME, 0);
    if (r->load_deferred && r->att) start_load(srv);
}

/* ---- INFO and ROLE ---- */

void replica_info(repl_server *srv, rk_buf *out)
{
    struct repl_replica *r = srv->replica;
    int64_t now = unix_s();
    long long off = r->attached || r->have_cached ? srv->master_repl_offset : 1;
    long long read_off = r->attached ? (r->read_reploff > off ? r->read_reploff : off) : off;
    rk_buf_printf(out,
                  "master_host:%s\r\n"
                  "master_port:%d\r\n"
                  "master_link_status:%s\r\n"
                  "master_last_io_seconds_ago:%d\r\n"
                  "master_sync_in_progress:%d\r\n"
                  "slave_read_repl_offset:%lld\r\n"
                  "slave_repl_offset:%lld\r\n",
                  r->want_host ? r->want_host : (r->host ? r->host : ""),
                  r->want_host ? r->want_port : r->port, r->state == RS_CONNECTED ? "up" : "down",
                  r->attached ? (int)(now - r->last_io) : -1, r->state == RS_TRANSFER, read_off, off);
    if (r->state == RS_TRANSFER) {
        double perc = r->xfer_total ? (double)r->xfer_read / (double)r->xfer_total * 100 : 0;
        rk_buf_printf(out,
                      "master_sync_total_bytes:%lld\r\n"
                      "master_sync_read_bytes:%lld\r\n"
                      "master_sync_left_bytes:%lld\r\n"
                      "master_sync_perc:%.2f\r\n"
                      "master_sync_last_io_seconds_ago:%d\r\n",
                      r->xfer_total, r->xfer_read, r->xfer_total - r->xfer_read, perc,
                      (int)(now - r->xfer_lastio));
    }
    if (r->state != RS_CONNECTED)
        rk_buf_printf(out, "master_link_down_since_seconds:%lld\r\n",
                      r->down_since ? (long long)(now - r->down_since) : -1LL);
    rk_buf_printf(out,
                  "slave_priority:%lld\r\n"
                  "slave_read_only:%d\r\n"
                  "replica_announced:%d\r\n",
                  srv->cfg.replica_priority, srv->cfg.replica_read_only, srv->cfg.replica_announced);
}

void replica_role(repl_server *srv, rk_reply *rep)
{
    struct repl_replica *r = srv->replica;
    static const char *names[] = {"none", "connect", "connecting", "handshake", "sync", "connected"};
    reply_array(rep, 5);
    reply_bulk_str(rep, "slave");
    reply_bulk_str(rep, r->want_host ? r->want_host : (r->host ? r->host : ""));
    reply_int(rep, r->want_host ? r->want_port : r->port);
    reply_bulk_str(rep, names[r->state]);
    reply_int(rep, r->attached ? srv->master_repl_offset : -1);
}
