/* rdb_sink.c: the snapshot sink thread (see rdb_sink.h).
 *
 * Owns: the temporary file (or, streaming, the descriptor it was given),
 * its io_uring ring, the running CRC and the queue of chunks that arrived
 * before the start message. Thread: one sink
 * thread per sink (one per save; one per shard of an AOF rewrite); other
 * threads only push to its mailbox. The only shared state is the count of
 * live sinks (an atomic), which enforces RDB_SINK_MAX_LIVE.
 *
 * Invariants:
 *  - bytes reach the file strictly in arrival order at increasing offsets,
 *    and the CRC covers exactly the bytes written, in that order;
 *  - every chunk received goes back to its shard exactly once;
 *  - after the first failure nothing more is written and the temporary file
 *    is removed: the previous dump.rdb is never touched unless the new file
 *    is complete and durable (rename after fsync);
 *  - a streaming sink (to_fd) writes the same bytes a file would hold, in
 *    the same order, and closes its descriptor exactly once, at its end.
 * Bounds: the early queue holds at most the shards' credits' worth of
 * chunks (snapshot.c); a write is retried at most SINK_MAX_RETRIES times
 * when the kernel makes no progress; at most RDB_SINK_MAX_LIVE sinks live
 * at once; with incremental fsync at most RDB_SINK_AUTOSYNC_BYTES are
 * written between two fdatasyncs. A streaming sink waits in poll() for
 * room in its descriptor without a time bound: its reader (the replication
 * thread) reads, or closes its end, which fails the next write (EPIPE). */
#include "storage/rdb_sink.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/function.h"
#include "core/log.h"
#include "core/shard.h"
#include "storage/crc64.h"

#define SINK_MAX_RETRIES 16
/* dir + "/" + name; a longer path is refused at the start. */
#define SINK_PATH_MAX 2048

/* Sinks created and not yet reported: bounded by RDB_SINK_MAX_LIVE. */
static atomic_int g_live_sinks;

struct rdb_sink {
    rk_mailbox mb;
    uint64_t job;
    int shard_first, nshards;
    int format;
    int checksum;
    int incremental_fsync;
    int result_shard, result_type;
    int aof_timestamp;
    int to_fd;           /* streaming into fd (given at the start), not a file */
    int fd_is_socket;    /* to_fd: send(MSG_NOSIGNAL) rather than write() */
    char dir[SINK_PATH_MAX];
    char final_name[SINK_PATH_MAX]; /* the paths: dir/... (just the name when dir is ".") */
    char tmp_name[SINK_PATH_MAX];
    pthread_t thread;
    /* Written by the coordinator before it pushes `start`, read by the sink after popping it. */
    struct {
        rk_msg m;
        rdb_aux_info aux;
    } start;
    save_result *result; /* preallocated: the report cannot fail for lack of memory */
    /* Sink thread only from here. */
    int fd;              /* the temporary file, or the stream (to_fd; set at the start) */
    int failed;          /* errno-like code of the first failure, 0 while fine */
    int started;
    int lasts;           /* shards whose last chunk arrived */
    uint64_t off, crc, cow;
    uint64_t synced_off;  /* incremental fsync: bytes covered by the last fdatasync */
    snap_chunk *early_head, *early_tail;
    struct io_uring ring;
    int have_ring;
};

static void sink_fail(rdb_sink *k, int err, const char *fmt, const char *arg)
{
    if (k->failed)
        return;
    k->failed = err ? err : EIO;
    char what[160];
    snprintf(what, sizeof what, fmt, arg);
    snprintf(k->result->err, sizeof k->result->err, "%.150s: %s", what, strerror(k->failed));
    /* A shard gave its snapshot up (shutdown, the AOF turned off): the
     * coordinator that stopped it says so; nothing failed to write. */
    if (k->failed == ECANCELED)
        return;
    /* A stream's reader going away is its coordinator's to report (an
     * EPIPE is a replica that left, not a broken disk). */
    if (k->to_fd)
        return;
    if (k->result_type == MSG_SAVE_RESULT)
        rk_log(LL_WARNING, "Background saving error: %s", k->result->err);
    else
        rk_log(LL_WARNING, "Write error writing append only file on disk: %s", k->result->err);
}

/* One operation on the ring (or nothing when there is none): 0, or -errno. */
static int ring_wait(rdb_sink *k)
{
    struct io_uring_cqe *cqe;
    int rc;
    do
        rc = io_uring_wait_cqe(&k->ring, &cqe);
    while (rc == -EINTR);
    if (rc < 0)
        return rc;
    rc = cqe->res;
    io_uring_cqe_seen(&k->ring, cqe);
    return rc;
}

/* fsync (datasync 0) or fdatasync (1) of fd: 0, or -errno. */
static int sink_sync(rdb_sink *k, int fd, int datasync)
{
    struct io_uring_sqe *sqe = k->have_ring ? io_uring_get_sqe(&k->ring) : NULL;
    if (!sqe)
        return (datasync ? fdatasync(fd) : fsync(fd)) == 0 ? 0 : -errno;
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    io_uring_submit(&k->ring);
    return ring_wait(k);
}

static int sink_fsync(rdb_sink *k, int fd)
{
    return sink_sync(k, fd, 0);
}

/* Incremental fsync (Redis's rioSetAutoSync): after a write completed, an
 * fdatasync once RDB_SINK_AUTOSYNC_BYTES more are written, so the dirty
 * page cache stays small and the final fsync is short. */
static void maybe_autosync(rdb_sink *k)
{
    if (!k->incremental_fsync || k->failed || k->off - k->synced_off < RDB_SINK_AUTOSYNC_BYTES)
        return;
    int rc = sink_sync(k, k->fd, 1);
    if (rc < 0) {
        sink_fail(k, -rc, "fdatasync of %s", k->tmp_name);
        return;
    }
    k->synced_off = k->off;
}

/* Streaming: p[0, n) into the descriptor with blocking writes (poll()
 * for room when it is non-blocking). SIGPIPE is ignored by the server;
 * MSG_NOSIGNAL keeps a socket's EPIPE a return value in any process. */
static void stream_write(rdb_sink *k, const char *p, size_t n)
{
    k->crc = rk_crc64(k->crc, p, n);
    while (n > 0) {
        ssize_t w = k->fd_is_socket ? send(k->fd, p, n, MSG_NOSIGNAL) : write(k->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = k->fd, .events = POLLOUT};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
                sink_fail(k, errno, "waiting to write %s", k->tmp_name);
                return;
            }
            continue; /* POLLERR/POLLHUP: the next write names the error */
        }
        if (w <= 0) {
            sink_fail(k, w == 0 ? EIO : errno, "writing %s", k->tmp_name);
            return;
        }
        p += w;
        n -= (size_t)w;
        k->off += (uint64_t)w;
    }
}

/* Appends p[0, n) at the current offset and adds it to the CRC. The CRC of
 * the chunk is computed while the kernel copies it. */
static void sink_write(rdb_sink *k, const char *p, size_t n)
{
    if (k->failed || n == 0)
        return;
    if (k->to_fd) {
        stream_write(k, p, n);
        return;
    }
    int crc_done = 0;
    int retries = 0;
    while (n > 0) {
        ssize_t w;
        struct io_uring_sqe *sqe = k->have_ring ? io_uring_get_sqe(&k->ring) : NULL;
        if (sqe) {
            io_uring_prep_write(sqe, k->fd, p, (unsigned)(n > (1u << 30) ? (1u << 30) : n), k->off);
            io_uring_submit(&k->ring);
            if (!crc_done) {
                k->crc = rk_crc64(k->crc, p, n);
                crc_done = 1;
            }
            w = ring_wait(k);
            if (w < 0) {
                errno = (int)-w;
                w = -1;
            }
        } else {
            if (!crc_done) {
                k->crc = rk_crc64(k->crc, p, n);
                crc_done = 1;
            }
            w = pwrite(k->fd, p, n, (off_t)k->off);
        }
        if (w < 0 && (errno == EINTR || errno == EAGAIN) && ++retries <= SINK_MAX_RETRIES)
            continue;
        if (w <= 0) {
            sink_fail(k, w == 0 ? ENOSPC : errno, "writing %s", k->tmp_name);
            return;
        }
        p += w;
        n -= (size_t)w;
        k->off += (uint64_t)w;
    }
    maybe_autosync(k);
}

static int sink_rename(rdb_sink *k)
{
    struct io_uring_sqe *sqe = k->have_ring ? io_uring_get_sqe(&k->ring) : NULL;
    if (!sqe)
        return rename(k->tmp_name, k->final_name) == 0 ? 0 : -errno;
    io_uring_prep_renameat(sqe, AT_FDCWD, k->tmp_name, AT_FDCWD, k->final_name, 0);
    io_uring_submit(&k->ring);
    return ring_wait(k);
}

/* The function libraries the start carries (shard 0's sink only), as
 * FUNCTION LOAD commands (Redis's rewriteFunctions) or FUNCTION2 records. */
static int put_functions(rdb_sink *k, rk_buf *out, rdb_writer *w)
{
    const rdb_aux_info *aux = &k->start.aux;
    size_t pos = 0, clen;
    const char *code;
    int r;
    if (!aux->functions && aux->functions_len == RDB_AUX_FUNCTIONS_OOM)
        return -1;
    while (aux->functions && (r = function_blob_next(aux->functions, aux->functions_len, &pos, &code, &clen)) > 0) {
        if (k->format == SINK_FMT_COMMANDS) {
            char len[32];
            int n = snprintf(len, sizeof len, "$%zu\r\n", clen);
            if (rk_buf_append_str(out, "*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n") != 0 ||
                rk_buf_append(out, len, (size_t)n) != 0 || rk_buf_append(out, code, clen) != 0 ||
                rk_buf_append(out, "\r\n", 2) != 0)
                return -1;
        } else if (rdb_writer_function(w, code, clen) != 0) {
            return -1;
        }
    }
    return 0;
}

static void write_header(rdb_sink *k)
{
    rk_buf hdr;
    rk_buf_init(&hdr);
    if (k->format == SINK_FMT_COMMANDS) {
        /* A base of commands is just its commands, after the optional
         * timestamp annotation (Redis's genAofTimestampAnnotationIfNeeded). */
        if (k->aof_timestamp) {
            char ts[32];
            int n = snprintf(ts, sizeof ts, "#TS:%lld\r\n", k->start.aux.ctime);
            sink_write(k, ts, (size_t)n);
        }
        if (put_functions(k, &hdr, NULL) != 0)
            sink_fail(k, ENOMEM, "building the header of %s", k->tmp_name);
        else if (hdr.len)
            sink_write(k, hdr.data, hdr.len);
    } else {
        rdb_writer w;
        rdb_writer_init_buf(&w, &hdr, 0, 0);
        if (rdb_writer_header(&w, &k->start.aux) != 0 || put_functions(k, &hdr, &w) != 0 ||
            rdb_writer_flush(&w) != 0)
            sink_fail(k, ENOMEM, "building the header of %s", k->tmp_name);
        else
            sink_write(k, hdr.data, hdr.len);
        rdb_writer_release(&w);
    }
    rk_buf_free(&hdr);
    free(k->start.aux.functions);
    k->start.aux.functions = NULL;
}

static void give_back(snap_chunk *c)
{
    c->m.type = MSG_SNAP_CHUNK_BACK;
    shard_send(c->shard, &c->m);
}

static void ask_shards_to_stop(rdb_sink *k)
{
    for (int i = k->shard_first; i < k->shard_first + k->nshards; i++) {
        snap_chunk *a = calloc(1, sizeof *a);
        if (!a)
            continue; /* the shard then just finishes its walk; the result is the same */
        a->m.type = MSG_SNAP_ABORT;
        a->job = k->job;
        a->shard = i;
        shard_send(i, &a->m);
    }
}

static void take_chunk(rdb_sink *k, snap_chunk *c)
{
    int was_failed = k->failed;
    if (c->last) {
        k->lasts++;
        k->cow += c->peak_bytes;
        if (c->failed) {
            char id[16];
            snprintf(id, sizeof id, "%d", c->shard);
            sink_fail(k, c->failed, "snapshot of shard %s", id);
        }
    }
    if (!k->started) {
        c->qnext = NULL;
        if (k->early_tail)
            k->early_tail->qnext = c;
        else
            k->early_head = c;
        k->early_tail = c;
        return;
    }
    sink_write(k, c->data.data, c->data.len);
    give_back(c);
    if (!was_failed && k->failed)
        ask_shards_to_stop(k);
}

static void drain_mailbox(rdb_sink *k)
{
    rk_mailbox_ack_wake(&k->mb);
    rk_msg *m;
    while ((m = rk_mailbox_pop(&k->mb)) != NULL) {
        if (m == &k->start.m) {
            k->started = 1;
            int was_failed = k->failed;
            write_header(k);
            while (k->early_head) {
                snap_chunk *c = k->early_head;
                k->early_head = c->qnext;
                sink_write(k, c->data.data, c->data.len);
                give_back(c);
            }
            k->early_tail = NULL;
            if (!was_failed && k->failed)
                ask_shards_to_stop(k);
        } else {
            assert(m->type == MSG_SNAP_CHUNK);
            snap_chunk *c = (snap_chunk *)m;
            assert(c->job == k->job && c->shard >= k->shard_first && c->shard < k->shard_first + k->nshards);
            take_chunk(k, c);
        }
    }
}

/* EOF and CRC (RDB format), fsync, rename, fsync of the directory. */
static void finish_file(rdb_sink *k)
{
    if (k->format == SINK_FMT_RDB) {
        unsigned char eof = RDB_OPCODE_EOF;
        sink_write(k, (const char *)&eof, 1);
        uint64_t crc = k->checksum ? k->crc : 0;
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)(crc >> (8 * i));
        sink_write(k, (const char *)le, 8);
    }
    if (k->failed || k->to_fd)
        return; /* a stream ends with its last byte: nothing to make durable */
    int rc = sink_fsync(k, k->fd);
    if (rc < 0) {
        sink_fail(k, -rc, "fsync of %s", k->tmp_name);
        return;
    }
    rc = sink_rename(k);
    if (rc < 0) {
        sink_fail(k, -rc, "renaming the temporary file to %s", k->final_name);
        return;
    }
    int dfd = open(k->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (rc = sink_fsync(k, dfd)) < 0)
        rk_log(LL_WARNING, "Could not fsync the directory of %s: %s", k->final_name,
               strerror(dfd < 0 ? errno : -rc));
    if (dfd >= 0)
        close(dfd);
}

static void *sink_main(void *arg)
{
    rdb_sink *k = arg;
    pthread_setname_np(pthread_self(), k->format == SINK_FMT_COMMANDS ? "ringkv-aofsink" : "ringkv-rdbsink");
    if (!k->to_fd) {
        /* A stream's writes block and wait for their reader: plain
         * syscalls, no ring. */
        const char *off = getenv("RK_URING_DISABLE");
        k->have_ring = !(off && strstr(off, "uring")) && io_uring_queue_init(8, &k->ring, 0) == 0;
        k->fd = open(k->tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (k->fd < 0)
            sink_fail(k, errno, "opening the temp file %s", k->tmp_name);
    }
    if (k->failed)
        ask_shards_to_stop(k);
    struct pollfd pfd = {.fd = k->mb.efd, .events = POLLIN};
    while (!k->started || k->lasts < k->nshards) {
        drain_mailbox(k);
        if (k->started && k->lasts == k->nshards)
            break;
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            assert(0 && "poll on the sink's eventfd failed");
    }
    finish_file(k);
    if (k->fd >= 0)
        close(k->fd);
    if (k->failed && !k->to_fd)
        unlink(k->tmp_name);
    if (k->have_ring)
        io_uring_queue_exit(&k->ring);

    save_result *r = k->result;
    r->m.type = k->result_type;
    r->job = k->job;
    r->shard = k->shard_first;
    r->ok = !k->failed;
    r->bytes = k->off;
    r->cow_bytes = k->cow;
    const int to = k->result_shard;
    rk_mailbox_destroy(&k->mb);
    free(k);
    /* Before the report: a coordinator that starts new sinks on hearing it
     * finds this one's slot free (the thread itself ends right after). */
    atomic_fetch_sub(&g_live_sinks, 1);
    shard_send(to, &r->m);
    return NULL;
}

/* dir/name into out (just name when dir is "."): 0, or -1 when too long. */
static int join_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = strcmp(dir, ".") == 0 ? snprintf(out, cap, "%s", name) : snprintf(out, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The sink's fields from t: 0, or -1 with err set. */
static int sink_setup(rdb_sink *k, uint64_t job, const rdb_sink_target *t, char *err, size_t errlen)
{
    k->fd = -1;
    if (t->to_fd) {
        struct stat st;
        if (fstat(t->out_fd, &st) != 0) {
            snprintf(err, errlen, "the stream's descriptor: %s", strerror(errno));
            return -1;
        }
        k->to_fd = 1;
        k->fd_is_socket = S_ISSOCK(st.st_mode);
        k->fd = t->out_fd;
        /* The name error messages use for the stream. */
        snprintf(k->tmp_name, sizeof k->tmp_name, "the replication stream");
        snprintf(k->final_name, sizeof k->final_name, "the replication stream");
        snprintf(k->dir, sizeof k->dir, ".");
    }
    char tmp[128];
    snprintf(tmp, sizeof tmp, "temp-%d-%llu-%d.%s", (int)getpid(), (unsigned long long)job, t->shard_first,
             t->format == SINK_FMT_COMMANDS ? "aof" : "rdb");
    const char *dir = t->dir && t->dir[0] ? t->dir : ".";
    if (!t->to_fd && ((size_t)snprintf(k->dir, sizeof k->dir, "%s", dir) >= sizeof k->dir ||
                      join_path(k->final_name, sizeof k->final_name, dir, t->final_name) != 0 ||
                      join_path(k->tmp_name, sizeof k->tmp_name, dir, tmp) != 0)) {
        snprintf(err, errlen, "path too long: %.60s/%.60s", dir, t->final_name);
        return -1;
    }
    k->job = job;
    k->shard_first = t->shard_first;
    k->nshards = t->nshards;
    k->format = t->format;
    k->checksum = t->checksum;
    k->incremental_fsync = t->incremental_fsync;
    k->result_shard = t->result_shard;
    k->result_type = t->result_type;
    k->aof_timestamp = t->aof_timestamp;
    k->start.m.type = MSG_SNAP_START;
    return 0;
}

rdb_sink *rdb_sink_start_target(uint64_t job, const rdb_sink_target *t, char *err, size_t errlen)
{
    assert(t->to_fd ? t->out_fd >= 0 : t->final_name && t->final_name[0]);
    assert(t->nshards > 0 && t->shard_first >= 0 && t->shard_first + t->nshards <= g_nshards);
    assert(t->result_shard >= 0 && t->result_shard < g_nshards);
    assert(t->format == SINK_FMT_RDB || t->format == SINK_FMT_COMMANDS);
    if (atomic_fetch_add(&g_live_sinks, 1) >= RDB_SINK_MAX_LIVE) {
        atomic_fetch_sub(&g_live_sinks, 1);
        snprintf(err, errlen, "too many snapshot writers at once (%d)", RDB_SINK_MAX_LIVE);
        return NULL;
    }
    rdb_sink *k = calloc(1, sizeof *k);
    save_result *r = calloc(1, sizeof *r);
    if (!k || !r) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (sink_setup(k, job, t, err, errlen) != 0)
        goto fail;
    if (rk_mailbox_init(&k->mb) != 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    k->result = r;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&k->thread, &attr, sink_main, k);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "pthread_create: %s", strerror(rc));
        rk_mailbox_destroy(&k->mb);
        goto fail;
    }
    return k;
fail:
    free(k);
    free(r);
    atomic_fetch_sub(&g_live_sinks, 1);
    return NULL;
}

rdb_sink *rdb_sink_start(uint64_t job, int nshards, const char *final_name, int checksum, char *err,
                         size_t errlen)
{
    rdb_sink_target t = {
        .dir = ".",
        .final_name = final_name,
        .shard_first = 0,
        .nshards = nshards,
        .format = SINK_FMT_RDB,
        .checksum = checksum,
        .incremental_fsync = 0,
        .result_shard = 0,
        .result_type = MSG_SAVE_RESULT,
    };
    return rdb_sink_start_target(job, &t, err, errlen);
}

void rdb_sink_send(rdb_sink *k, snap_chunk *c)
{
    c->m.type = MSG_SNAP_CHUNK;
    rk_mailbox_push(&k->mb, &c->m);
}

void rdb_sink_send_start(rdb_sink *k, const rdb_aux_info *aux)
{
    k->start.aux = *aux;
    rk_mailbox_push(&k->mb, &k->start.m);
}
