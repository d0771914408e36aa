/* multi.c: MULTI, EXEC, DISCARD, WATCH and UNWATCH.
 *
 * Threads: the client side (queue, watched keys) lives on the client's home
 * shard; the WATCH table of a key lives on the key's owner shard and is
 * touched only there.
 *
 * EXEC is one ordered transaction (txn.h) over every shard its queued
 * commands and watched keys touch. While all of them are paused it first
 * checks the watched keys' versions, then runs the commands in order: a
 * command whose keys are on one shard runs there in a hop of its own, one
 * whose keys span shards runs through the multi-key executor inside the
 * same transaction, connection commands (SELECT, PING, ...) run on the home
 * shard, and commands that coordinate over every shard themselves
 * (FLUSHALL, KEYS, PUBLISH, ...) run their coordinator with its transaction
 * nested in ours (EXEC then spans every shard). The replies form EXEC's array.
 *
 * Journal: the shards EXEC's write commands may change (write_mask) hold
 * one journal part each for the whole EXEC (core/journal.h): with one
 * such shard it is a unit, written as MULTI ... EXEC when it holds more
 * than one command, as Redis does; with several, each shard frames its part
 * with the transaction's markers. While a consumer exists anywhere, a hop
 * before the first command opens the parts and one after the last closes
 * them; otherwise EXEC costs no extra hop.
 *
 * WATCH: the owner keeps, per watched key, a version bumped by every change
 * of that key (keyspace_touched), and its existence at WATCH time. EXEC
 * aborts when a version moved, or when a key that existed has expired. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/blocking.h"
#include "core/client.h"
#include "core/command.h"
#include "core/journal.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/multi.h"
#include "core/multikey.h"
#include "core/shard.h"
#include "core/txn.h"

enum { MSG_MULTI_UNWATCH = MSG_MULTI_FIRST };

#define MULTI_MAX_QUEUED (1 << 20) /* bound on commands queued by one client */

typedef struct queued_cmd {
    const rk_command *cmd;
    int argc;
    rk_slice *argv; /* one allocation with the bytes */
} queued_cmd;

typedef struct watched_key {
    int dbid;
    int shard;
    int existed;
    uint64_t version;
    rk_slice key; /* owned */
} watched_key;

struct rk_multi_state {
    int in_multi;
    int error;                 /* a queuing error: EXEC answers EXECABORT */
    queued_cmd *queue;
    int nqueued, capqueued;
    watched_key *watched;
    int nwatched, capwatched;
};

/* ---- WATCH table (owner shard) -------------------------------------------- */

typedef struct watch_entry {
    uint64_t version;
    uint32_t refs;
} watch_entry;

struct rk_watch_table {
    dict *keys; /* "dbid:key" rk_str -> watch_entry* */
};

static void watch_entry_free(void *p) { rk_free(p); }

static const dict_type watch_dict_type = {
    .hash = rkstr_hash, .key_equal = rkstr_equal, .key_free = rkstr_destructor, .val_free = watch_entry_free};

/* The table key: 4 bytes of db id then the key bytes. */
static rk_str *watch_key_new(int dbid, rk_slice key) {
    rk_str *k = rkstr_new(NULL, key.len + 4);
    if (!k) return NULL;
    memcpy(k->data, &dbid, 4);
    memcpy(k->data + 4, key.ptr, key.len);
    k->data[key.len + 4] = '\0';
    return k;
}

static watch_entry *watch_find(rk_shard *s, int dbid, rk_slice key) {
    if (!s->watch || dict_size(s->watch->keys) == 0) return NULL;
    rk_str *k = watch_key_new(dbid, key);
    if (!k) return NULL;
    dict_entry *e = dict_find(s->watch->keys, k);
    rkstr_free(k);
    return e ? e->v.val : NULL;
}

int watch_active(const rk_shard *s) { return s->watch && dict_size(s->watch->keys) > 0; }

void watch_touch_key(rk_shard *s, int dbid, rk_slice key) {
    watch_entry *w = watch_find(s, dbid, key);
    if (w) w->version++;
}

/* FLUSHDB/FLUSHALL/SWAPDB: as Redis, watched keys that exist are touched. */
void watch_touch_db(rk_shard *s, rk_db *db) {
    if (!watch_active(s)) return;
    dict_iter it;
    dict_iter_init(&it, s->watch->keys, 0);
    dict_entry *e;
    while ((e = dict_next(&it)) != NULL) {
        rk_str *k = e->key;
        int dbid;
        memcpy(&dbid, k->data, 4);
        if (dbid != db->id) continue;
        rk_slice key = {k->data + 4, k->len - 4};
        if (db_lookup(s, db, key, LOOKUP_NOTOUCH | LOOKUP_NOEXPIRE | LOOKUP_WRITE))
            ((watch_entry *)e->v.val)->version++;
    }
    dict_iter_release(&it);
}

/* Registers one watcher; returns -1 when out of memory. */
static int watch_register(rk_shard *s, int dbid, rk_slice key, uint64_t *version, int *existed) {
    if (!s->watch) {
        s->watch = calloc(1, sizeof(*s->watch));
        if (!s->watch) return -1;
        s->watch->keys = dict_create(&watch_dict_type);
        if (!s->watch->keys) { free(s->watch); s->watch = NULL; return -1; }
    }
    rk_str *k = watch_key_new(dbid, key);
    if (!k) return -1;
    dict_entry *existing = NULL;
    dict_entry *e = dict_add_raw(s->watch->keys, k, &existing);
    if (!e) {
        rkstr_free(k);
        if (!existing) return -1;
        e = existing;
    } else {
        e->v.val = rk_calloc(sizeof(watch_entry));
        if (!e->v.val) { dict_delete(s->watch->keys, e->key); return -1; }
    }
    watch_entry *w = e->v.val;
    w->refs++;
    *version = w->version;
    *existed = db_lookup(s, &s->dbs[dbid], key, LOOKUP_NOTOUCH | LOOKUP_WRITE) != NULL;
    return 0;
}

static void watch_release(rk_shard *s, int dbid, rk_slice key) {
    if (!s->watch) return;
    rk_str *k = watch_key_new(dbid, key);
    if (!k) return; /* the entry stays: a spare version counter, harmless */
    dict_entry *e = dict_find(s->watch->keys, k);
    if (e) {
        watch_entry *w = e->v.val;
        assert(w->refs > 0);
        if (--w->refs == 0) dict_delete(s->watch->keys, k);
    }
    rkstr_free(k);
}

typedef struct unwatch_msg {
    rk_msg m;
    int dbid;
    size_t len;
    char key[];
} unwatch_msg;

void multi_handle_msg(rk_shard *s, void *msg) {
    unwatch_msg *u = msg;
    assert(u->m.type == MSG_MULTI_UNWATCH);
    watch_release(s, u->dbid, (rk_slice){u->key, u->len});
    free(u);
}

void keyspace_touched(rk_shard *s, rk_db *db, rk_slice key) {
    watch_touch_key(s, db->id, key);
    blocking_key_touched(s, db, key);
}

/* ---- client state (home shard) -------------------------------------------- */

static void send_unwatch(const watched_key *w);

static struct rk_multi_state *multi_state(rk_client *c) {
    if (!c->multi) c->multi = calloc(1, sizeof(*c->multi));
    return c->multi;
}

int multi_active(const rk_client *c) { return c->multi && c->multi->in_multi; }

int multi_queued(const rk_client *c) { return multi_active(c) ? c->multi->nqueued : -1; }

void multi_flag_error(rk_client *c) {
    if (multi_active(c)) c->multi->error = 1;
}

void multi_queued_flags(const rk_client *c, uint32_t *has, uint32_t *lacks) {
    *has = *lacks = 0;
    if (!multi_active(c)) return;
    for (int i = 0; i < c->multi->nqueued; i++) {
        *has |= c->multi->queue[i].cmd->flags;
        *lacks |= ~c->multi->queue[i].cmd->flags;
    }
}

static void queue_clear(struct rk_multi_state *m) {
    for (int i = 0; i < m->nqueued; i++) free(m->queue[i].argv);
    free(m->queue);
    m->queue = NULL;
    m->nqueued = m->capqueued = 0;
    m->in_multi = 0;
    m->error = 0;
}

static void unwatch_all(rk_client *c) {
    struct rk_multi_state *m = c->multi;
    if (!m) return;
    for (int i = 0; i < m->nwatched; i++) {
        send_unwatch(&m->watched[i]);
        free((void *)m->watched[i].key.ptr);
    }
    free(m->watched);
    m->watched = NULL;
    m->nwatched = m->capwatched = 0;
}

void multi_client_reset(rk_client *c) {
    if (!c->multi) return;
    unwatch_all(c);
    queue_clear(c->multi);
    free(c->multi);
    c->multi = NULL;
}

static int is_passthrough(const rk_command *cmd) {
    const char *n = cmd->name;
    return !strcmp(n, "exec") || !strcmp(n, "discard") || !strcmp(n, "multi") || !strcmp(n, "watch") ||
           !strcmp(n, "quit") || !strcmp(n, "reset");
}

int multi_intercept(rk_client *c, const rk_command *cmd, int argc, const rk_slice *argv) {
    if (!multi_active(c) || is_passthrough(cmd)) return 0;
    struct rk_multi_state *m = c->multi;
    rk_reply r = {client_reply_buf(c), c->resp};
    if (cmd->flags & CMD_NO_MULTI) {
        m->error = 1;
        reply_error(&r, "ERR Command not allowed inside a transaction");
        shard_count_error(c->home, "ERR");
        return 1;
    }
    if (m->nqueued == MULTI_MAX_QUEUED) {
        m->error = 1;
        reply_error(&r, "ERR too many commands queued in this transaction");
        return 1;
    }
    if (m->nqueued == m->capqueued) {
        int cap = m->capqueued ? m->capqueued * 2 : 16;
        queued_cmd *grown = realloc(m->queue, sizeof(*grown) * (size_t)cap);
        if (!grown) { m->error = 1; reply_error(&r, "ERR out of memory"); return 1; }
        m->queue = grown;
        m->capqueued = cap;
    }
    rk_slice *copy = argv_dup(argc, argv);
    if (!copy) { m->error = 1; reply_error(&r, "ERR out of memory"); return 1; }
    m->queue[m->nqueued++] = (queued_cmd){cmd, argc, copy};
    reply_simple(&r, "QUEUED");
    return 1;
}

/* ---- MULTI / DISCARD / UNWATCH ---------------------------------------------- */

void multi_exec_abort(rk_client *c, const char *err) {
    unwatch_all(c);
    if (c->multi) queue_clear(c->multi);
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_errorf(&r, "EXECABORT Transaction discarded because of: %s", err[0] == '-' ? err + 1 : err);
    shard_count_error(c->home, "EXECABORT");
}

static void multi_cmd(rk_ctx *c) {
    struct rk_multi_state *m = multi_state(c->client);
    if (!m) { ctx_oom(c); return; }
    if (m->in_multi) { ctx_error(c, "ERR MULTI calls can not be nested"); return; }
    m->in_multi = 1;
    reply_ok(&c->r);
}

static void discard_cmd(rk_ctx *c) {
    if (!multi_active(c->client)) { ctx_error(c, "ERR DISCARD without MULTI"); return; }
    unwatch_all(c->client);
    queue_clear(c->client->multi);
    reply_ok(&c->r);
}

static void unwatch_cmd(rk_ctx *c) {
    unwatch_all(c->client);
    reply_ok(&c->r);
}

/* ---- WATCH ---------------------------------------------------------------------- */

typedef struct watch_rec {
    int index;   /* argv index of the key */
    int existed;
    uint64_t version;
} watch_rec;

static void watch_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    for (int i = 1; i < t->argc; i++) {
        if (rk_key_shard(t->argv[i].ptr, t->argv[i].len) != s->id) continue;
        watch_rec rec = {.index = i};
        if (watch_register(s, t->dbid, t->argv[i], &rec.version, &rec.existed) != 0) rec.index = -i;
        rk_buf_append(out, &rec, sizeof(rec));
    }
}

static void watch_step(rk_txn *t) {
    rk_client *c = t->client;
    struct rk_multi_state *m = c ? multi_state(c) : NULL;
    int oom = m == NULL;
    for (int s = 0; s < g_nshards; s++) {
        for (size_t off = 0; off + sizeof(watch_rec) <= t->out[s].len; off += sizeof(watch_rec)) {
            watch_rec rec;
            memcpy(&rec, t->out[s].data + off, sizeof(rec));
            if (rec.index < 0) { oom = 1; continue; }
            if (oom) continue;
            if (m->nwatched == m->capwatched) {
                int cap = m->capwatched ? m->capwatched * 2 : 8;
                watched_key *grown = realloc(m->watched, sizeof(*grown) * (size_t)cap);
                if (!grown) { oom = 1; continue; }
                m->watched = grown;
                m->capwatched = cap;
            }
            rk_slice key = t->argv[rec.index];
            char *copy = malloc(key.len + 1);
            if (!copy) { oom = 1; continue; }
            memcpy(copy, key.ptr, key.len);
            m->watched[m->nwatched++] =
                (watched_key){t->dbid, s, rec.existed, rec.version, (rk_slice){copy, key.len}};
        }
    }
    /* A registration we could not record would leak a reference on its owner:
     * release what we hold and fail the command. */
    if (oom) {
        if (c) unwatch_all(c);
        reply_error(&t->r, "ERR out of memory");
    } else {
        reply_ok(&t->r);
    }
    txn_finish(t);
}

static void watch_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    if (multi_active(c)) {
        rk_reply r = {client_reply_buf(c), c->resp};
        reply_error(&r, "ERR WATCH inside MULTI is not allowed");
        shard_count_error(c->home, "ERR");
        return;
    }
    uint64_t mask = 0;
    for (int i = 1; i < argc; i++) mask |= 1ull << rk_key_shard(argv[i].ptr, argv[i].len);
    rk_txn *t = txn_new(c, cmd, mask, argc, argv);
    if (!t) { client_kill(c); return; }
    txn_start(t, watch_hop, watch_step);
}

/* ---- EXEC ---------------------------------------------------------------------- */

typedef struct exec_plan {
    queued_cmd *queue; /* taken from the client */
    int n;
    int next;
    int dbid;          /* changes with SELECT */
    watched_key *watched;
    int nwatched;
    int *pos;          /* key positions of the command being routed */
    int cappos;
    uint64_t write_mask; /* shards the queued write commands may change */
    int from_master;   /* a replica's master client: keys past their TTL stay live (db.h) */
    int journal_open;  /* the journal parts were opened on write_mask */
} exec_plan;

/* Room for every key position of a command with argc arguments. 0 / -1. */
static int plan_pos_reserve(exec_plan *x, int argc) {
    if (argc <= x->cappos) return 0;
    int *grown = realloc(x->pos, sizeof(int) * (size_t)argc);
    if (!grown) return -1;
    x->pos = grown;
    x->cappos = argc;
    return 0;
}

static void send_unwatch(const watched_key *w) {
    unwatch_msg *u = malloc(sizeof(*u) + w->key.len);
    /* Without memory the owner keeps a spare version counter: harmless. */
    if (!u) return;
    u->m.type = MSG_MULTI_UNWATCH;
    u->dbid = w->dbid;
    u->len = w->key.len;
    memcpy(u->key, w->key.ptr, w->key.len);
    shard_send(w->shard, &u->m);
}

/* Runs on the coordinator when EXEC ends: the WATCH references go only now,
 * after the check hop used them. */
static void exec_plan_free(void *p) {
    exec_plan *x = p;
    for (int i = 0; i < x->n; i++) free(x->queue[i].argv);
    free(x->queue);
    for (int i = 0; i < x->nwatched; i++) {
        send_unwatch(&x->watched[i]);
        free((void *)x->watched[i].key.ptr);
    }
    free(x->watched);
    free(x->pos);
    free(x);
}

/* Hop 1: every participant checks the keys it watches for this client. */
static void exec_check_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    exec_plan *x = t->arg;
    uint8_t dirty = 0;
    for (int i = 0; i < x->nwatched && !dirty; i++) {
        watched_key *w = &x->watched[i];
        if (w->shard != s->id) continue;
        watch_entry *e = watch_find(s, w->dbid, w->key);
        if (!e || e->version != w->version) dirty = 1;
        else if (w->existed) {
            /* Redis aborts when a watched key expired meanwhile, deleted or not. */
            rk_db *db = &s->dbs[w->dbid];
            if (!db_lookup(s, db, w->key, LOOKUP_NOTOUCH | LOOKUP_NOEXPIRE | LOOKUP_WRITE) ||
                db_lookup(s, db, w->key, LOOKUP_NOTOUCH | LOOKUP_WRITE) == NULL)
                dirty = 1;
        }
    }
    rk_buf_append(out, &dirty, 1);
    /* This shard's journal part opens here rather than in a hop of its own;
     * an abort closes it again (exec_check_step). A no-op without consumer. */
    if (x->write_mask & (1ull << s->id)) journal_txn_begin(s->journal, t->seq, x->write_mask);
}

static void exec_run_next(rk_txn *t);

static void exec_one_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    exec_plan *x = t->arg;
    queued_cmd *q = &x->queue[x->next - 1];
    rk_ctx ctx;
    ctx_init(&ctx, s, x->dbid, t->resp, q->cmd, q->argc, q->argv, out);
    ctx.client_id = t->client ? t->client->id : 0;
    ctx.in_multi = 1;
    db_master_command = x->from_master;
    cmd_call(&ctx);
    db_master_command = 0;
}

static void exec_one_step(rk_txn *t) {
    uint64_t mask = t->hop_mask;
    int s = __builtin_ctzll(mask);
    rk_buf_append(&t->reply, t->out[s].data, t->out[s].len);
    exec_run_next(t);
}

static void exec_mk_done(rk_txn *t) { exec_run_next(t); }

/* Runs a command on the home shard itself (connection commands, no keys). */
static void exec_on_home(rk_txn *t, queued_cmd *q) {
    exec_plan *x = t->arg;
    rk_shard *home = t->coord;
    rk_ctx ctx;
    ctx_init(&ctx, home, x->dbid, t->resp, q->cmd, q->argc, q->argv, &t->reply);
    ctx.client = q->cmd->exec == EXEC_CONN ? t->client : NULL;
    ctx.client_id = t->client ? t->client->id : 0;
    ctx.in_multi = 1;
    if (q->cmd->exec == EXEC_CONN && !t->client) {
        reply_error(&ctx.r, "ERR client gone");
        return;
    }
    db_master_command = x->from_master;
    cmd_call(&ctx);
    db_master_command = 0;
    if (t->client) {
        x->dbid = t->client->db;   /* SELECT inside the transaction */
        t->resp = t->client->resp; /* HELLO inside it, as Redis */
        t->r.resp = t->resp;
    }
}

/* A whole-server command (FLUSHALL, PUBLISH, KEYS, ...) runs its own
 * coordinator; its txn_new() becomes a sub-transaction of ours (txn.c), its
 * synchronous replies go into our array. Returns 1 when it finished now. */
static int exec_whole_server(rk_txn *t, queued_cmd *q) {
    rk_client *c = t->client;
    if (!c) {
        reply_error(&t->r, "ERR client gone");
        return 1;
    }
    c->exec_txn = t;
    c->exec_redirect = &t->reply;
    c->exec_pending = 0;
    c->exec_waiting = 0;
    q->cmd->coord(c, q->cmd, q->argc, q->argv);
    c->exec_redirect = NULL;
    if (c->exec_pending > 0) {
        c->exec_waiting = 1; /* client_txn_done resumes us */
        return 0;
    }
    c->exec_txn = NULL;
    return 1;
}

void multi_exec_resume(rk_txn *t) { exec_run_next(t); }

static void exec_journal_end_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)out;
    exec_plan *x = t->arg;
    journal_txn_end(s->journal, t->seq, x->write_mask);
}

static void exec_journal_end_step(rk_txn *t) { txn_finish(t); }

/* The commands ran: close the journal parts, then finish. */
static void exec_done(rk_txn *t) {
    exec_plan *x = t->arg;
    if (x->journal_open) {
        x->journal_open = 0;
        txn_hop_on(t, x->write_mask, exec_journal_end_hop, exec_journal_end_step);
        return;
    }
    txn_finish(t);
}

static void exec_run_next(rk_txn *t) {
    exec_plan *x = t->arg;
    multikey_release(t);
    while (x->next < x->n) {
        queued_cmd *q = &x->queue[x->next++];
        int nkeys = 0;
        uint64_t mask = 0;
        if (q->cmd->exec == EXEC_ALL) {
            if (!exec_whole_server(t, q)) return;
            if (t->client) x->dbid = t->client->db;
            continue;
        }
        if (q->cmd->exec == EXEC_KEYS) {
            if (plan_pos_reserve(x, q->argc) != 0) {
                reply_error(&t->r, "ERR out of memory");
                continue;
            }
            nkeys = cmd_get_keys(q->cmd, q->argc, q->argv, x->pos, x->cappos);
            for (int k = 0; k < nkeys; k++)
                mask |= 1ull << rk_key_shard(q->argv[x->pos[k]].ptr, q->argv[x->pos[k]].len);
        }
        if (mask == 0) {
            exec_on_home(t, q);
            continue;
        }
        if ((mask & (mask - 1)) == 0 || !multikey_args_complete(q->cmd, q->argc, x->pos, nkeys)) {
            txn_hop_on(t, mask & -mask, exec_one_hop, exec_one_step);
            return;
        }
        if (multikey_run_in_txn(t, q->cmd, q->argc, q->argv, x->dbid, x->pos, nkeys, &t->reply, exec_mk_done) != 0) {
            reply_error(&t->r, "ERR out of memory");
            continue;
        }
        return;
    }
    exec_done(t);
}

static void exec_check_step(rk_txn *t) {
    exec_plan *x = t->arg;
    /* The check hop opened the journal parts; no consumer can register
     * while the participants stay paused, so this answer holds until the end. */
    x->journal_open = x->write_mask && journal_any_active();
    for (int s = 0; s < g_nshards; s++) {
        if ((t->shard_mask & (1ull << s)) && t->out[s].len && t->out[s].data[0]) {
            reply_null_array(&t->r);
            exec_done(t); /* closes the (empty) parts */
            return;
        }
    }
    reply_array(&t->r, x->n);
    exec_run_next(t);
}

static void exec_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    rk_reply r = {client_reply_buf(c), c->resp};
    struct rk_multi_state *m = c->multi;
    if (!multi_active(c)) {
        reply_error(&r, "ERR EXEC without MULTI");
        shard_count_error(c->home, "ERR");
        return;
    }
    if (m->error) {
        unwatch_all(c);
        queue_clear(m);
        reply_error(&r, "EXECABORT Transaction discarded because of previous errors.");
        shard_count_error(c->home, "EXECABORT");
        return;
    }
    exec_plan *x = calloc(1, sizeof(*x));
    if (!x) { reply_error(&r, "ERR out of memory"); return; }
    /* The plan takes the queue and the watched keys: the client is clean again. */
    x->queue = m->queue;
    x->n = m->nqueued;
    x->watched = m->watched;
    x->nwatched = m->nwatched;
    x->dbid = c->db;
    x->from_master = (c->flags & CLIENT_MASTER) != 0;
    m->queue = NULL;
    m->nqueued = m->capqueued = 0;
    m->watched = NULL;
    m->nwatched = m->capwatched = 0;
    m->in_multi = 0;

    uint64_t mask = 1ull << c->home->id; /* never empty: the home shard takes part */
    for (int i = 0; i < x->nwatched; i++) mask |= 1ull << x->watched[i].shard;
    for (int i = 0; i < x->n; i++) {
        queued_cmd *q = &x->queue[i];
        /* A whole-server command may touch any shard. */
        if (q->cmd->exec == EXEC_ALL) {
            mask = txn_all_shards();
            if (q->cmd->flags & CMD_WRITE) x->write_mask = mask;
        }
        if (q->cmd->exec != EXEC_KEYS) continue;
        if (plan_pos_reserve(x, q->argc) != 0) {
            exec_plan_free(x);
            reply_error(&r, "ERR out of memory");
            return;
        }
        int nkeys = cmd_get_keys(q->cmd, q->argc, q->argv, x->pos, x->cappos);
        for (int k = 0; k < nkeys; k++) {
            uint64_t bit = 1ull << rk_key_shard(q->argv[x->pos[k]].ptr, q->argv[x->pos[k]].len);
            mask |= bit;
            if (q->cmd->flags & CMD_WRITE) x->write_mask |= bit;
        }
    }
    rk_txn *t = txn_new(c, cmd, mask, argc, argv);
    if (!t) { exec_plan_free(x); reply_error(&r, "ERR out of memory"); return; }
    t->arg = x;
    t->arg_free = exec_plan_free;
    txn_start(t, exec_check_hop, exec_check_step);
}

#define MULTI_FLAGS (CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_ALLOW_BUSY)

const rk_command rk_multi_commands[] = {
    {.name = "multi", .arity = 1, .flags = MULTI_FLAGS, .acl_categories = "@fast @transaction",
     .exec = EXEC_CONN, .proc = multi_cmd, .summary = "Starts a transaction.", .since = "1.2.0",
     .group = "transactions", .complexity = "O(1)"},
    {.name = "exec", .arity = 1, .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_SKIP_SLOWLOG,
     .acl_categories = "@slow @transaction", .exec = EXEC_ALL, .coord = exec_coord,
     .summary = "Executes all commands in a transaction.", .since = "1.2.0", .group = "transactions",
     .complexity = "Depends on commands in the transaction"},
    {.name = "discard", .arity = 1, .flags = MULTI_FLAGS, .acl_categories = "@fast @transaction",
     .exec = EXEC_CONN, .proc = discard_cmd, .summary = "Discards a transaction.", .since = "2.0.0",
     .group = "transactions", .complexity = "O(N), when N is the number of queued commands"},
    {.name = "watch", .arity = -2, .flags = MULTI_FLAGS, .acl_categories = "@fast @transaction",
     .exec = EXEC_ALL, .coord = watch_coord, .first_key = 1, .last_key = -1, .key_step = 1,
     .keyspecs = {{"RO", 1, NULL, 0, 0, -1, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
     .summary = "Monitors changes to keys to determine the execution of a transaction.", .since = "2.2.0",
     .group = "transactions", .complexity = "O(1) for every key."},
    {.name = "unwatch", .arity = 1, .flags = MULTI_FLAGS, .acl_categories = "@fast @transaction",
     .exec = EXEC_CONN, .proc = unwatch_cmd, .summary = "Forgets about watched keys of a transaction.",
     .since = "2.2.0", .group = "transactions", .complexity = "O(1)"},
    {0},
};
