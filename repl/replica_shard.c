/* replica_shard.c: a replica's master client, as shard 0 sees it (issue 6).
 *
 * Owns: the pointer to the master client (core/client.c, CLIENT_MASTER) and
 * its replication offset (reploff: the offset of the last byte of the
 * master's stream dispatched here), the batches of applied bytes on their
 * way to the replication thread, the ACKs to the master and the
 * repl-timeout on its link.
 *
 * Thread: shard 0 only (asserted). State lives in a file-static struct that
 * no other thread touches; the replication thread talks to it with the
 * block-4 messages of repl/repl.h and repl/replica_int.h.
 *
 * Invariants:
 *   - one ATTACH is answered by exactly one LOST (`live` while owed);
 *   - every applied byte is sent up (MSG_REPL_APPLIED) before the LOST or
 *     PAUSED that carries the offset after it, so the repl thread's
 *     master_repl_offset equals reploff when it reads either;
 *   - at most REPLICA_APPLIED_CREDITS APPLIED messages are in flight, plus
 *     one forced at PAUSE or at the end; without a credit the master
 *     client's input is paused (the batch then grows by what the client had
 *     already read, at most its query buffer). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/client.h"
#include "core/db.h"
#include "core/log.h"
#include "repl/replica_int.h"

typedef struct replica_shard {
    rk_client *master;           /* NULL when none */
    int live;                    /* an ATTACH not yet answered by LOST */
    long long reploff;
    replica_applied_msg *pending;             /* the batch being filled */
    replica_applied_msg *spare[REPLICA_APPLIED_CREDITS]; /* returned messages, reused */
    int nspare;
    int credits;                 /* APPLIED messages we may still send */
    int starved;                 /* input paused for want of a credit */
    int pause_req;               /* PAUSE received, PAUSED not yet sent */
    int paused;                  /* between PAUSE and RESUME (or the end) */
    int64_t last_io_ms, last_ack_ms;
    int db;                      /* the last link's database, for a partial sync's stream */
} replica_shard;

static replica_shard rs = {.credits = REPLICA_APPLIED_CREDITS};

/* Wall-clock ms, the clock of rk_client.last_interaction_ms. */
static int64_t now_ms(void)
{
    return rk_mstime();
}

static void update_input_pause(void)
{
    if (rs.master) client_set_input_paused(rs.master, rs.starved || rs.paused);
}

/* Sends the batch up. Without a credit it waits (input paused) unless
 * forced: PAUSED and LOST must follow every byte. */
static void flush_applied(int force)
{
    replica_applied_msg *m = rs.pending;
    if (!m || m->a.data.len == 0) return;
    if (rs.credits <= 0 && !force) {
        if (!rs.starved) {
            rs.starved = 1;
            update_input_pause();
        }
        return;
    }
    rs.credits--;
    rs.pending = NULL;
    m->a.m.type = MSG_REPL_APPLIED;
    m->reploff = rs.reploff;
    m->read_reploff = rs.reploff + (rs.master ? (long long)rs.master->qbuf.len : 0);
    repl_send(&m->a.m);
}

static void oom_abort(const char *what)
{
    /* A byte of the master's stream that cannot reach the backlog would
     * break the offsets of this replica and of every replica behind it. */
    rk_log(LL_WARNING, "Out of memory %s: aborting", what);
    abort();
}

static void on_applied(rk_shard *s, const char *p, size_t len)
{
    assert(s->id == 0 && rs.live);
    rs.reploff += (long long)len;
    rs.last_io_ms = now_ms();
    if (!rs.pending) {
        if (rs.nspare > 0) {
            rs.pending = rs.spare[--rs.nspare];
        } else {
            rs.pending = calloc(1, sizeof(*rs.pending));
            if (!rs.pending) oom_abort("batching the master's stream");
            rk_buf_init(&rs.pending->a.data);
        }
    }
    if (rk_buf_append(&rs.pending->a.data, p, len) < 0) oom_abort("batching the master's stream");
    /* Idle pipe: send at once; busy: batches of REPLICA_APPLIED_CHUNK or a tick. */
    if (rs.credits == REPLICA_APPLIED_CREDITS || rs.pending->a.data.len >= REPLICA_APPLIED_CHUNK)
        flush_applied(0);
}

static void send_ctl(int type)
{
    repl_master_ctl_msg *m = calloc(1, sizeof(*m));
    if (!m) oom_abort("answering the replication thread");
    m->m.type = type;
    m->reploff = rs.reploff;
    m->dbid = rs.master ? rs.master->db : rs.db;
    repl_send(&m->m);
}

static void send_ack(void)
{
    if (!rs.master) return;
    char buf[96];
    char num[32];
    int nl = snprintf(num, sizeof(num), "%lld", rs.reploff);
    int n = snprintf(buf, sizeof(buf), "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$%d\r\n%s\r\n", nl, num);
    assert(n > 0 && (size_t)n < sizeof(buf));
    (void)client_master_write(rs.master, buf, (size_t)n);
    rs.last_ack_ms = now_ms();
}

static void on_closed(rk_shard *s)
{
    assert(s->id == 0);
    if (!rs.live) return;
    flush_applied(1);
    if (rs.master) rs.db = rs.master->db;
    rs.live = 0;
    rs.master = NULL;
    rs.starved = 0;
    rs.pause_req = 0;
    rs.paused = 0;
    send_ctl(MSG_REPL_MASTER_LOST);
}

/* PAUSED once nothing of the master client is in flight and every applied
 * byte went up. */
static void check_pause(void)
{
    if (!rs.pause_req) return;
    if (rs.master && !client_idle(rs.master)) return;
    flush_applied(1);
    rs.pause_req = 0;
    send_ctl(MSG_REPL_MASTER_PAUSED);
}

static void on_attach(rk_shard *s, repl_attach_msg *m)
{
    assert(!rs.live && !rs.master);
    rs.live = 1;
    rs.reploff = m->reploff;
    rs.last_io_ms = now_ms();
    rs.starved = rs.credits <= 0;
    rs.paused = 0;
    rs.pause_req = 0;
    /* The surplus may run commands inside the call: reploff is set. */
    rs.db = m->dbid;
    rk_client *c = client_adopt_master(s, m->fd, rs.db, m->surplus.data, m->surplus.len);
    rk_buf_free(&m->surplus);
    free(m);
    if (!rs.live) return; /* closed inside the call: LOST went */
    if (!c) {
        rk_log(LL_WARNING, "Unable to create the master client: the link will be retried");
        on_closed(s);
        return;
    }
    rs.master = c;
    update_input_pause();
    /* At once: a diskless master puts us online on the first ACK. */
    send_ack();
}

void replica_shard_msg(rk_shard *s, rk_msg *m)
{
    assert(s->id == 0);
    switch (m->type) {
    case MSG_REPL_MASTER_ATTACH:
        on_attach(s, (repl_attach_msg *)m);
        return;
    case MSG_REPL_APPLIED_BACK: {
        replica_applied_msg *am = (replica_applied_msg *)m;
        rs.credits++;
        assert(rs.credits <= REPLICA_APPLIED_CREDITS);
        if (rs.nspare < REPLICA_APPLIED_CREDITS && am->a.data.cap <= 2 * REPLICA_APPLIED_CHUNK) {
            rk_buf_clear(&am->a.data);
            rs.spare[rs.nspare++] = am;
        } else {
            rk_buf_free(&am->a.data);
            free(am);
        }
        /* Self-clocked batching: whatever gathered while the pipe was
         * busy goes when it empties (or when a batch is full). */
        if (rs.pending && (rs.starved || rs.credits == REPLICA_APPLIED_CREDITS ||
                           rs.pending->a.data.len >= REPLICA_APPLIED_CHUNK))
            flush_applied(0);
        if (rs.starved && rs.credits > 0) {
            rs.starved = 0;
            rs.last_io_ms = now_ms(); /* the wait was ours, not the master's */
            update_input_pause();
        }
        return;
    }
    case MSG_REPL_MASTER_PAUSE:
        free(m);
        if (!rs.master) {
            /* Gone already: the LOST on its way tells the repl thread. */
            return;
        }
        rs.paused = 1;
        rs.pause_req = 1;
        update_input_pause();
        check_pause();
        return;
    case MSG_REPL_MASTER_RESUME:
        free(m);
        rs.paused = 0;
        rs.pause_req = 0;
        rs.last_io_ms = now_ms();
        update_input_pause();
        return;
    case MSG_REPL_MASTER_DETACH:
        free(m);
        if (rs.master) client_kill(rs.master); /* the closed hook sends LOST */
        return;
    default:
        rk_log(LL_WARNING, "Shard 0: unexpected replica message %d", m->type);
        free(m);
        return;
    }
}

void replica_shard_on_tick(rk_shard *s)
{
    assert(s->id == 0);
    if (rs.pending && rs.pending->a.data.len) flush_applied(0);
    check_pause();
    if (!rs.master) return;
    int64_t now = now_ms();
    if (now - rs.last_ack_ms >= 1000) send_ack();
    int64_t last = rs.last_io_ms;
    if (rs.master->last_interaction_ms > last) last = rs.master->last_interaction_ms;
    long long timeout_ms = (s->cfg.repl_timeout > 0 ? s->cfg.repl_timeout : 60) * 1000;
    if (!rs.starved && !rs.paused && now - last > timeout_ms) {
        rk_log(LL_WARNING, "MASTER timeout: no data nor PING received...");
        client_kill(rs.master);
    }
}

void replica_shard_send_ack(rk_shard *s)
{
    assert(s->id == 0);
    send_ack();
}

void replica_shard_install(void)
{
    g_shard_plugins.repl_master_applied = on_applied;
    g_shard_plugins.repl_master_closed = on_closed;
}
