/* shard.c: shard threads, their event loops, mailboxes and periodic work.
 *
 * Thread: each rk_shard is touched only by its own thread, except
 * shard_create/shard_start (start-up thread, before the thread runs) and
 * shard_send (any thread: it only pushes to the target's mailbox).
 *
 * A shard's loop iteration: handle completions (client input, mailbox
 * wake-ups, ticks), then before_wait flushes replies. Mailbox messages are
 * handled in arrival order; while an ordered transaction has the shard
 * paused, requests wait in the transaction queue (txn.c) instead. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/client.h"
#include "core/command.h"
#include "core/evict.h"
#include "core/journal.h"
#include "core/lazyfree.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/multi.h"
#include "core/blocking.h"
#include "core/pubsub.h"
#include "core/shard.h"
#include "core/txn.h"

rk_shard *g_shards[RK_MAX_SHARDS];
rk_shard_plugins g_shard_plugins;
int g_nshards;
__thread rk_shard *rk_this_shard;
char g_run_id[41];
int64_t g_start_ms;
char g_executable[4096];

/* ---- Slots ---------------------------------------------------------- */

/* CRC16-CCITT (XMODEM), polynomial 0x1021, as Redis Cluster uses; one
 * table lookup per byte. The table is filled before main() runs, so every
 * thread only ever reads it. */
static uint16_t crc16_table[256];

__attribute__((constructor)) static void crc16_init(void) {
    for (int byte = 0; byte < 256; byte++) {
        uint16_t crc = (uint16_t)(byte << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        crc16_table[byte] = crc;
    }
}

uint16_t rk_crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ (uint8_t)buf[i]) & 0xff]);
    return crc;
}

/* Only the part between the first '{' and the next '}' is hashed, when
 * that part is not empty: the rule that keeps {user1}:a and {user1}:b together. */
unsigned rk_key_slot(const char *key, size_t len) {
    size_t open;
    for (open = 0; open < len; open++)
        if (key[open] == '{') break;
    if (open == len) return rk_crc16(key, len) & 16383;
    size_t close;
    for (close = open + 1; close < len; close++)
        if (key[close] == '}') break;
    if (close == len || close == open + 1) return rk_crc16(key, len) & 16383;
    return rk_crc16(key + open + 1, close - open - 1) & 16383;
}

/* ---- Statistics ------------------------------------------------------ */

void shard_count_error(rk_shard *s, const char *msg) {
    char prefix[32];
    size_t n = 0;
    if (msg[0] == '-') msg++;
    while (msg[n] && msg[n] != ' ' && n < sizeof(prefix) - 1) { prefix[n] = msg[n]; n++; }
    prefix[n] = '\0';
    s->stats.total_error_replies++;
    for (int i = 0; i < s->n_errorstats; i++) {
        if (strcmp(s->errorstats[i].prefix, prefix) == 0) { s->errorstats[i].count++; return; }
    }
    /* Bounded like Redis: new kinds beyond the limit are not tracked. */
    if (s->n_errorstats == RK_MAX_ERRORSTATS) return;
    memcpy(s->errorstats[s->n_errorstats].prefix, prefix, n + 1);
    s->errorstats[s->n_errorstats].count = 1;
    s->n_errorstats++;
}

#define SLOWLOG_MAX_ARGC 32
#define SLOWLOG_MAX_ARGLEN 128

static void slowlog_free_entry(rk_slowlog_entry *e) {
    for (int i = 0; i < e->argc; i++) free((void *)e->argv[i].ptr);
    free(e->argv);
    free(e->peer);
    free(e->name);
    free(e);
}

/* Slowlog ids must be unique across shards so SLOWLOG GET can merge them. */
static _Atomic uint64_t g_slowlog_next_id;

void shard_slowlog_maybe(rk_shard *s, int argc, const rk_slice *argv, int64_t duration_us,
                         const char *peer, const char *name) {
    if (s->cfg.slowlog_log_slower_than < 0 || duration_us < s->cfg.slowlog_log_slower_than) return;
    if (s->cfg.slowlog_max_len <= 0) return;
    rk_slowlog_entry *e = calloc(1, sizeof(*e));
    if (!e) return;
    int keep = argc > SLOWLOG_MAX_ARGC ? SLOWLOG_MAX_ARGC : argc;
    e->argv = calloc((size_t)keep, sizeof(rk_slice));
    if (!e->argv) { free(e); return; }
    for (int i = 0; i < keep; i++) {
        char buf[SLOWLOG_MAX_ARGLEN + 64];
        size_t n;
        if (keep < argc && i == keep - 1) {
            n = (size_t)snprintf(buf, sizeof(buf), "... (%d more arguments)", argc - keep + 1);
        } else if (argv[i].len > SLOWLOG_MAX_ARGLEN) {
            n = (size_t)snprintf(buf, sizeof(buf), "%.*s... (%zu more bytes)", SLOWLOG_MAX_ARGLEN,
                                 argv[i].ptr, argv[i].len - SLOWLOG_MAX_ARGLEN);
        } else {
            memcpy(buf, argv[i].ptr, argv[i].len);
            n = argv[i].len;
        }
        char *copy = malloc(n + 1);
        if (!copy) { e->argc = i; slowlog_free_entry(e); return; }
        memcpy(copy, buf, n);
        copy[n] = '\0';
        e->argv[i] = (rk_slice){copy, n};
        e->argc = i + 1;
    }
    e->id = g_slowlog_next_id++;
    e->time_sec = rk_mstime() / 1000;
    e->duration_us = duration_us;
    e->peer = strdup(peer ? peer : "");
    e->name = strdup(name ? name : "");
    e->next = s->slowlog;
    s->slowlog = e;
    s->slowlog_len++;
    /* Trim to the configured length: walk to the last kept entry. */
    rk_slowlog_entry *cur = s->slowlog;
    for (long long i = 1; cur && i < s->cfg.slowlog_max_len; i++) cur = cur->next;
    while (cur && cur->next) {
        rk_slowlog_entry *victim = cur->next;
        cur->next = victim->next;
        slowlog_free_entry(victim);
        s->slowlog_len--;
    }
}

void shard_slowlog_reset(rk_shard *s) {
    while (s->slowlog) {
        rk_slowlog_entry *e = s->slowlog;
        s->slowlog = e->next;
        slowlog_free_entry(e);
    }
    s->slowlog_len = 0;
}

/* ---- Messages ------------------------------------------------------- */

/* From a shard thread to another shard, the eventfd write is deferred to
 * the end of the sender's loop iteration (shard_flush_wakes), so a burst of
 * requests costs one write; messages to itself or from other threads wake
 * at once. */
void shard_send(int to, rk_msg *m) {
    assert(to >= 0 && to < g_nshards);
    rk_shard *self = rk_this_shard;
    if (!self || self->id == to) {
        rk_mailbox_push(&g_shards[to]->mailbox, m);
        return;
    }
    if (rk_mailbox_push_lazy(&g_shards[to]->mailbox, m)) self->owed_wakes |= 1ull << to;
}

static void shard_flush_wakes(rk_shard *s) {
    while (s->owed_wakes) {
        int to = __builtin_ctzll(s->owed_wakes);
        s->owed_wakes &= s->owed_wakes - 1;
        rk_mailbox_wake(&g_shards[to]->mailbox);
    }
}

static void shard_handle_msg(rk_shard *s, rk_msg *m) {
    if (m->type == MSG_SCRIPT_ADD) {
        script_handle_msg(s, m);
        return;
    }
    switch (m->type) {
    case MSG_REQ:
        if (txn_shard_paused(s)) txn_defer_msg(s, m);
        else shard_exec_request(s, (rk_req *)m);
        break;
    case MSG_REPLY:
        client_handle_reply((rk_req *)m);
        break;
    default:
        if (m->type >= MSG_PUBSUB_FIRST && m->type <= MSG_PUBSUB_LAST) {
            pubsub_handle_msg(s, m);
            break;
        }
        if (m->type >= MSG_MULTI_FIRST && m->type <= MSG_MULTI_LAST) {
            multi_handle_msg(s, m);
            break;
        }
        if (m->type >= MSG_PERSIST_FIRST && m->type <= MSG_PERSIST_LAST && g_shard_plugins.persist_msg) {
            g_shard_plugins.persist_msg(s, m);
            break;
        }
        if (m->type >= MSG_LOAD_FIRST && m->type <= MSG_LOAD_LAST && g_shard_plugins.load_msg) {
            g_shard_plugins.load_msg(s, m);
            break;
        }
        if (m->type >= MSG_AOF_FIRST && m->type <= MSG_AOF_LAST && g_shard_plugins.aof_msg) {
            g_shard_plugins.aof_msg(s, m);
            break;
        }
        if (m->type >= MSG_REPL_FIRST && m->type <= MSG_REPL_LAST && g_shard_plugins.repl_msg) {
            g_shard_plugins.repl_msg(s, m);
            break;
        }
        if (m->type >= MSG_BLOCK_FIRST && m->type <= MSG_BLOCK_LAST) {
            blocking_handle_msg(s, m);
            break;
        }
        txn_handle_msg(s, m);
        break;
    }
}

static void shard_on_wake(void *ud) {
    rk_shard *s = ud;
    rk_mailbox_ack_wake(&s->mailbox);
    rk_msg *m;
    while ((m = rk_mailbox_pop(&s->mailbox)) != NULL) shard_handle_msg(s, m);
}

/* ---- Periodic work ---------------------------------------------------- */

static void shard_active_expire(rk_shard *s) {
    /* A replica's keys expire by its master's DELs (Redis 7.0). */
    if (!s->active_expire_enabled || txn_shard_paused(s) || s->repl_view.is_replica) return;
    /* Redis spends at most 25% of each tick on active expiry. */
    int64_t budget_us = 1000000 / s->cfg.hz / 4;
    int64_t start = rk_ustime();
    for (int n = 0; n < s->cfg.databases; n++) {
        int64_t spent = rk_ustime() - start;
        if (spent >= budget_us) break;
        rk_db *db = &s->dbs[(s->expire_db_cursor + (uint64_t)n) % (uint64_t)s->cfg.databases];
        if (dict_size(db->expires) == 0) continue;
        db_active_expire(s, db, budget_us - spent);
    }
    s->expire_db_cursor = (s->expire_db_cursor + 1) % (uint64_t)s->cfg.databases;
}

static void shard_rehash_step(rk_shard *s) {
    if (txn_shard_paused(s)) return;
    for (int i = 0; i < s->cfg.databases; i++) {
        rk_db *db = &s->dbs[i];
        dict_try_shrink(db->keys);
        dict_try_shrink(db->expires);
        if (db->keys->rehash_idx != -1) dict_rehash_microseconds(db->keys, 1000);
        if (db->expires->rehash_idx != -1) dict_rehash_microseconds(db->expires, 1000);
    }
}

static void shard_on_tick(void *ud) {
    rk_shard *s = ud;
    shard_active_expire(s);
    shard_rehash_step(s);
    /* As Redis: no eviction while a file loads (it would drop loaded keys),
     * nor on a replica (replica-ignore-maxmemory's default: its master
     * evicts and sends the DELs). */
    if (!txn_shard_paused(s) && !s->loading.active && !s->repl_view.is_replica) evict_cron(s);
    lazyfree_cron(s);
    clients_cron(s);
    if (g_shard_plugins.on_tick) g_shard_plugins.on_tick(s);
    if (g_shard_plugins.aof_on_tick) g_shard_plugins.aof_on_tick(s);
    if (g_shard_plugins.repl_on_tick) g_shard_plugins.repl_on_tick(s);
}

static void shard_before_wait(void *ud) {
    rk_shard *s = ud;
    /* Messages that arrived while we worked: handle them now rather than
     * paying for a wake-up round trip. */
    rk_msg *m;
    while ((m = rk_mailbox_pop(&s->mailbox)) != NULL) shard_handle_msg(s, m);
    lazyfree_before_wait(s);
    clients_before_wait(s);
    shard_flush_wakes(s);
    /* After the wakes: other shards must not wait for this slice of work. */
    if (g_shard_plugins.before_wait) g_shard_plugins.before_wait(s);
    if (g_shard_plugins.aof_before_wait) g_shard_plugins.aof_before_wait(s);
    if (g_shard_plugins.repl_before_wait) g_shard_plugins.repl_before_wait(s);
}

/* ---- Life cycle ------------------------------------------------------- */

rk_shard *shard_create(int id, const rk_config *cfg, char *err, size_t errlen) {
    rk_shard *s = calloc(1, sizeof(*s));
    if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
    s->id = id;
    /* A replica from its first client (Redis is), before the replication
     * thread's first MSG_REPL_STATE. */
    s->repl_view.is_replica = cfg->replicaof_host != NULL;
    if (config_copy(&s->cfg, cfg) != 0) { snprintf(err, errlen, "out of memory"); free(s); return NULL; }
    if (rk_mailbox_init(&s->mailbox) != 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        config_free(&s->cfg);
        free(s);
        return NULL;
    }
    s->active_expire_enabled = 1;
    s->start_ms = g_start_ms;
    s->cmdstats = calloc((size_t)cmd_total_ids(), sizeof(rk_cmdstat));
    s->journal = malloc(sizeof(*s->journal));
    if (s->journal) journal_init(s->journal, JOURNAL_DEFAULT_LIMIT);
    if (!s->cmdstats || !s->journal || txn_shard_init(s) != 0) {
        snprintf(err, errlen, "out of memory");
        return NULL; /* start-up fails as a whole; the process exits */
    }
    return s;
}

typedef struct shard_start_arg {
    rk_shard *s;
    int fds[16];
    int nfds;
    /* start-up handshake: the thread reports whether its loop came up */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
    char err[256];
} shard_start_arg;

static void *shard_thread_main(void *p) {
    shard_start_arg *a = p;
    rk_shard *s = a->s;
    rk_this_shard = s;
    char name[16];
    snprintf(name, sizeof(name), "ringkv-shard%d", s->id);
    pthread_setname_np(pthread_self(), name);
    int ok = rk_alloc_thread_init() == 0;
    if (ok) {
        s->dbs = rk_calloc(sizeof(rk_db) * (size_t)s->cfg.databases);
        ok = s->dbs != NULL;
        for (int i = 0; ok && i < s->cfg.databases; i++) ok = db_init(&s->dbs[i], i) == 0;
        if (!ok) snprintf(a->err, sizeof(a->err), "out of memory creating databases");
    }
    if (ok) {
        rk_loop_config lc = {0};
        lc.backend = (enum rk_backend)s->cfg.io_backend;
        memcpy(lc.listen_fds, a->fds, sizeof(int) * (size_t)a->nfds);
        lc.n_listen_fds = a->nfds;
        lc.wake_fd = s->mailbox.efd;
        lc.tick_ms = 1000 / s->cfg.hz > 0 ? 1000 / s->cfg.hz : 1;
        lc.max_conns = (unsigned)(s->cfg.maxclients / g_nshards + 32);
        lc.ud = s;
        lc.h.on_accept = client_on_accept;
        lc.h.on_data = client_on_data;
        lc.h.on_close = client_on_close;
        lc.h.on_wake = shard_on_wake;
        lc.h.on_tick = shard_on_tick;
        lc.h.before_wait = shard_before_wait;
        s->loop = rk_loop_create(&lc, a->err, sizeof(a->err));
        ok = s->loop != NULL;
    }
    if (ok && g_shard_plugins.on_start && g_shard_plugins.on_start(s) != 0) {
        snprintf(a->err, sizeof(a->err), "out of memory starting the persistence state");
        ok = 0;
    }
    pthread_mutex_lock(&a->mu);
    a->ok = ok;
    a->done = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    /* `a` belongs to the starter again from here on. */
    if (!ok) return NULL;
    rk_log(LL_NOTICE, "Shard %d running on %s (%s)", s->id, rk_loop_backend_name(s->loop),
           rk_loop_features(s->loop));
    if (rk_loop_run(s->loop) != 0) rk_log(LL_WARNING, "Shard %d: event loop failed", s->id);
    if (g_shard_plugins.on_stop) g_shard_plugins.on_stop(s);
    if (g_shard_plugins.repl_on_stop) g_shard_plugins.repl_on_stop(s);
    return NULL;
}

int shard_start(rk_shard *s, const int *listen_fds, int n_listen_fds, char *err, size_t errlen) {
    shard_start_arg a;
    memset(&a, 0, sizeof(a));
    a.s = s;
    assert(n_listen_fds <= 16);
    memcpy(a.fds, listen_fds, sizeof(int) * (size_t)n_listen_fds);
    a.nfds = n_listen_fds;
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    if (pthread_create(&s->thread, NULL, shard_thread_main, &a) != 0) {
        snprintf(err, errlen, "pthread_create: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&a.mu);
    while (!a.done) pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    if (!a.ok) {
        snprintf(err, errlen, "shard %d: %s", s->id, a.err);
        pthread_join(s->thread, NULL);
        return -1;
    }
    return 0;
}

void shards_stop_all(void) {
    for (int i = 0; i < g_nshards; i++)
        if (g_shards[i] && g_shards[i]->loop) rk_loop_stop(g_shards[i]->loop);
}

void shards_join_all(void) {
    for (int i = 0; i < g_nshards; i++)
        if (g_shards[i] && g_shards[i]->loop) pthread_join(g_shards[i]->thread, NULL);
}

const char *shard_backend_name(const rk_shard *s) {
    return s->loop ? rk_loop_backend_name(s->loop) : "none";
}
