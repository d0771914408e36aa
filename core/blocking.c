/* blocking.c: clients blocked on keys.
 *
 * Threads: the client side (rk_blocked, the home's list, timeouts) lives on
 * the client's home shard; each key's queue of waiters lives on the key's
 * owner shard. They talk through four messages:
 *   REGISTER   home -> owner   append the client to the key's FIFO
 *   READY      owner -> home   the key has data and this waiter is first
 *   DONE       home -> owner   the re-run served it, blocked again, or the waiter was stale
 *   UNREGISTER home -> owner   the client stopped waiting (served, timeout, gone)
 *
 * A blocked command is re-run from the start, through the normal routing,
 * when a key it waits on is ready; only that re-run pops, so an element is
 * consumed exactly once, wherever pusher and waiter live. Invariant: an
 * owner has at most one READY in flight per key (`serving`), so waiters are
 * served strictly in FIFO order per key; it signals again after DONE. A key
 * registered while it already holds data is signalled at once, so a push
 * that raced with the registration is not missed. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/blocking.h"
#include "core/client.h"
#include "core/command.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/multikey.h"
#include "core/shard.h"

enum {
    MSG_BLOCK_REGISTER = MSG_BLOCK_FIRST,
    MSG_BLOCK_READY,
    MSG_BLOCK_DONE,
    MSG_BLOCK_UNREGISTER,
};
enum { DONE_SERVED = 1, DONE_REBLOCKED, DONE_STALE };

#define BLOCK_MAX_KEYS 1024 /* keys one blocked command may wait on */

typedef struct blk_msg {
    rk_msg m;
    uint64_t client_id;
    uint64_t token;
    int home;
    int from;
    int dbid;
    int status;
    size_t keylen;
    char key[];
} blk_msg;

/* ---- owner side ---------------------------------------------------------- */

typedef struct waiter {
    struct waiter *next;
    uint64_t client_id;
    uint64_t token;
    int home;
} waiter;

typedef struct waitq {
    waiter *head, *tail;
    uint64_t serving_token; /* 0: no READY in flight */
    uint64_t count;
    int touched;            /* written while a READY was in flight */
} waitq;

struct rk_block_table {
    dict *keys;          /* "dbid:key" rk_str -> waitq* */
    /* home side */
    rk_client *blocked;  /* blocked clients of this shard, via rk_blocked.next */
    uint64_t nblocked;
};

static void waitq_free(void *p) {
    waitq *q = p;
    while (q->head) {
        waiter *w = q->head;
        q->head = w->next;
        rk_free(w);
    }
    rk_free(q);
}

static const dict_type waitq_dict_type = {
    .hash = rkstr_hash, .key_equal = rkstr_equal, .key_free = rkstr_destructor, .val_free = waitq_free};

static struct rk_block_table *table(rk_shard *s) {
    if (!s->blocking) {
        s->blocking = calloc(1, sizeof(*s->blocking));
        if (!s->blocking) return NULL;
        s->blocking->keys = dict_create(&waitq_dict_type);
        if (!s->blocking->keys) { free(s->blocking); s->blocking = NULL; return NULL; }
    }
    return s->blocking;
}

int blocking_active(const rk_shard *s) { return s->blocking && dict_size(s->blocking->keys) > 0; }

static rk_str *qkey_new(int dbid, const char *key, size_t len) {
    rk_str *k = rkstr_new(NULL, len + 4);
    if (!k) return NULL;
    memcpy(k->data, &dbid, 4);
    memcpy(k->data + 4, key, len);
    k->data[len + 4] = '\0';
    return k;
}

static waitq *queue_find(rk_shard *s, int dbid, const char *key, size_t len) {
    if (!blocking_active(s)) return NULL;
    rk_str *k = qkey_new(dbid, key, len);
    if (!k) return NULL;
    dict_entry *e = dict_find(s->blocking->keys, k);
    rkstr_free(k);
    return e ? e->v.val : NULL;
}

static void queue_drop_if_empty(rk_shard *s, int dbid, const char *key, size_t len, waitq *q) {
    if (q->head || q->serving_token) return;
    rk_str *k = qkey_new(dbid, key, len);
    if (k) {
        dict_delete(s->blocking->keys, k);
        rkstr_free(k);
    }
}

static blk_msg *blk_msg_new(int type, uint64_t client_id, uint64_t token, int dbid, const char *key, size_t len) {
    blk_msg *m = malloc(sizeof(*m) + len);
    if (!m) {
        /* Losing a blocking message would strand a client forever. */
        rk_log(LL_WARNING, "Out of memory allocating a blocking message: aborting");
        abort();
    }
    memset(m, 0, sizeof(*m));
    m->m.type = type;
    m->client_id = client_id;
    m->token = token;
    m->dbid = dbid;
    m->keylen = len;
    memcpy(m->key, key, len);
    return m;
}

/* Signals the first waiter of the key when the key holds data. */
static void maybe_serve(rk_shard *s, int dbid, const char *key, size_t len, waitq *q) {
    if (!q || q->serving_token || !q->head) return;
    if (!db_lookup(s, &s->dbs[dbid], (rk_slice){key, len}, LOOKUP_NOTOUCH | LOOKUP_WRITE)) return;
    waiter *w = q->head;
    q->serving_token = w->token;
    blk_msg *m = blk_msg_new(MSG_BLOCK_READY, w->client_id, w->token, dbid, key, len);
    m->from = s->id;
    shard_send(w->home, &m->m);
}

void blocking_key_touched(rk_shard *s, rk_db *db, rk_slice key) {
    waitq *q = queue_find(s, db->id, key.ptr, key.len);
    if (!q) return;
    if (q->serving_token) q->touched = 1;
    maybe_serve(s, db->id, key.ptr, key.len, q);
}

static void waiter_remove(waitq *q, uint64_t client_id, uint64_t token) {
    waiter **pp = &q->head, *prev = NULL;
    while (*pp) {
        waiter *w = *pp;
        if (w->client_id == client_id && w->token == token) {
            *pp = w->next;
            if (q->tail == w) q->tail = prev;
            rk_free(w);
            q->count--;
            return;
        }
        prev = w;
        pp = &w->next;
    }
}

static void on_register(rk_shard *s, blk_msg *m) {
    struct rk_block_table *bt = table(s);
    waiter *w = rk_malloc(sizeof(*w));
    rk_str *k = qkey_new(m->dbid, m->key, m->keylen);
    if (!bt || !w || !k) {
        rk_log(LL_WARNING, "Out of memory registering a blocked client: aborting");
        abort();
    }
    dict_entry *existing = NULL;
    dict_entry *e = dict_add_raw(bt->keys, k, &existing);
    if (!e) {
        rkstr_free(k);
        if (!existing) abort();
        e = existing;
    } else {
        e->v.val = rk_calloc(sizeof(waitq));
        if (!e->v.val) abort();
    }
    waitq *q = e->v.val;
    *w = (waiter){NULL, m->client_id, m->token, m->home};
    if (q->tail) q->tail->next = w;
    else q->head = w;
    q->tail = w;
    q->count++;
    maybe_serve(s, m->dbid, m->key, m->keylen, q);
    free(m);
}

static void on_done(rk_shard *s, blk_msg *m) {
    waitq *q = queue_find(s, m->dbid, m->key, m->keylen);
    if (q) {
        if (q->serving_token == m->token) q->serving_token = 0;
        if (m->status != DONE_REBLOCKED) waiter_remove(q, m->client_id, m->token);
        /* A waiter that found nothing to take blocks again: signal anew
         * only after a write since the READY. A key that exists is not
         * proof of data (an empty stream, a group with nothing new), and
         * signalling it again would loop between the two shards. */
        int again = m->status != DONE_REBLOCKED || q->touched;
        q->touched = 0;
        if (again) maybe_serve(s, m->dbid, m->key, m->keylen, q);
        queue_drop_if_empty(s, m->dbid, m->key, m->keylen, q);
    }
    free(m);
}

static void on_unregister(rk_shard *s, blk_msg *m) {
    waitq *q = queue_find(s, m->dbid, m->key, m->keylen);
    if (q) {
        waiter_remove(q, m->client_id, m->token);
        if (q->serving_token == m->token) q->serving_token = 0;
        maybe_serve(s, m->dbid, m->key, m->keylen, q);
        queue_drop_if_empty(s, m->dbid, m->key, m->keylen, q);
    }
    free(m);
}

/* ---- home side ------------------------------------------------------------ */

struct rk_blocked {
    const rk_command *cmd;
    int argc;
    rk_slice *argv;      /* one allocation with the bytes */
    int dbid;
    uint64_t token;
    int64_t deadline_ms; /* 0: forever */
    int rerunning;
    int ready_from;      /* owner whose READY started the re-run */
    int ready_dbid;
    rk_slice ready_key;  /* owned copy */
    rk_client *next, *prev;
};

/* Per home thread: a token only has to be unique for one client, and a
 * client never leaves its home shard. */
static __thread uint64_t t_next_token;

int client_is_blocked(const rk_client *c) { return c->blocked != NULL; }

uint64_t blocking_clients_here(const rk_shard *s) { return s->blocking ? s->blocking->nblocked : 0; }


/* The keys a blocked command waits on: those of its first key spec, as in
 * Redis. BLMOVE and BRPOPLPUSH wait on their source only; waiting on the
 * destination too would wake them whenever it holds data, forever. */
static int waited_keys(const struct rk_blocked *b, int *pos) {
    int n = cmd_get_keys(b->cmd, b->argc, b->argv, pos, BLOCK_MAX_KEYS);
    if (n > 1 && b->cmd->n_keyspecs > 1) n = 1;
    return n;
}

static void send_to_owners(rk_client *c, int type) {
    struct rk_blocked *b = c->blocked;
    int pos[BLOCK_MAX_KEYS];
    int n = waited_keys(b, pos);
    for (int i = 0; i < n; i++) {
        rk_slice key = b->argv[pos[i]];
        int owner = rk_key_shard(key.ptr, key.len);
        blk_msg *m = blk_msg_new(type, c->id, b->token, b->dbid, key.ptr, key.len);
        m->home = c->home->id;
        shard_send(owner, &m->m);
    }
}

static void home_list_remove(rk_shard *s, rk_client *c) {
    struct rk_blocked *b = c->blocked;
    if (b->prev) b->prev->blocked->next = b->next;
    else s->blocking->blocked = b->next;
    if (b->next) b->next->blocked->prev = b->prev;
    s->blocking->nblocked--;
}

static void blocked_free(struct rk_blocked *b) {
    free(b->argv);
    free((void *)b->ready_key.ptr);
    free(b);
}

/* Ends the blocked state: owners forget the client, input resumes. */
static void unblock(rk_client *c) {
    struct rk_blocked *b = c->blocked;
    send_to_owners(c, MSG_BLOCK_UNREGISTER);
    home_list_remove(c->home, c);
    c->blocked = NULL;
    blocked_free(b);
    c->flags &= ~CLIENT_BLOCKED;
}

void client_block_from(rk_client *c, const rk_command *cmd, int argc, const rk_slice *argv, double timeout) {
    if (c->blocked) return; /* a re-run that blocks again: registrations stay */
    struct rk_block_table *bt = table(c->home);
    struct rk_blocked *b = calloc(1, sizeof(*b));
    rk_slice *copy = b ? argv_dup(argc, argv) : NULL;
    if (!bt || !copy) {
        free(b);
        rk_reply r = {client_reply_buf(c), c->resp};
        reply_error(&r, "ERR out of memory");
        return;
    }
    b->cmd = cmd;
    b->argc = argc;
    b->argv = copy;
    b->dbid = c->db;
    b->token = ++t_next_token;
    b->deadline_ms = timeout > 0 ? rk_mstime() + (int64_t)(timeout * 1000.0 + 0.5) : 0;
    c->blocked = b;
    c->flags |= CLIENT_BLOCKED;
    b->next = bt->blocked;
    if (bt->blocked) bt->blocked->blocked->prev = c;
    bt->blocked = c;
    bt->nblocked++;
    send_to_owners(c, MSG_BLOCK_REGISTER);
}

static void send_done(int to, uint64_t client_id, uint64_t token, int dbid, rk_slice key, int status) {
    blk_msg *m = blk_msg_new(MSG_BLOCK_DONE, client_id, token, dbid, key.ptr, key.len);
    m->status = status;
    shard_send(to, &m->m);
}

void blocking_rerun_finished(rk_client *c, int blocked_again) {
    struct rk_blocked *b = c->blocked;
    if (!b || !b->rerunning) return;
    b->rerunning = 0;
    send_done(b->ready_from, c->id, b->token, b->ready_dbid, b->ready_key,
              blocked_again ? DONE_REBLOCKED : DONE_SERVED);
    free((void *)b->ready_key.ptr);
    b->ready_key = (rk_slice){NULL, 0};
    if (!blocked_again) {
        unblock(c);
        client_resume(c);
    }
}

static rk_client *find_blocked(rk_shard *s, uint64_t client_id) {
    if (!s->blocking) return NULL;
    for (rk_client *c = s->blocking->blocked; c; c = c->blocked->next)
        if (c->id == client_id) return c;
    return NULL;
}

static void on_ready(rk_shard *s, blk_msg *m) {
    rk_client *c = find_blocked(s, m->client_id);
    struct rk_blocked *b = c ? c->blocked : NULL;
    if (!b || b->token != m->token || b->rerunning || (c->flags & CLIENT_CONN_GONE)) {
        send_done(m->from, m->client_id, m->token, m->dbid, (rk_slice){m->key, m->keylen}, DONE_STALE);
        free(m);
        return;
    }
    char *key = malloc(m->keylen + 1);
    if (!key) {
        send_done(m->from, m->client_id, m->token, m->dbid, (rk_slice){m->key, m->keylen}, DONE_REBLOCKED);
        free(m);
        return;
    }
    memcpy(key, m->key, m->keylen);
    b->ready_key = (rk_slice){key, m->keylen};
    b->ready_from = m->from;
    b->ready_dbid = m->dbid;
    b->rerunning = 1;
    free(m);
    /* The re-run goes through the normal routing with the client's db of the time. */
    int saved_db = c->db;
    c->db = b->dbid;
    client_rerun(c, b->argc, b->argv);
    if (c->blocked == b || c->blocked == NULL) c->db = saved_db;
}

void blocking_handle_msg(rk_shard *s, void *msg) {
    blk_msg *m = msg;
    switch (m->m.type) {
    case MSG_BLOCK_REGISTER: on_register(s, m); break;
    case MSG_BLOCK_READY: on_ready(s, m); break;
    case MSG_BLOCK_DONE: on_done(s, m); break;
    case MSG_BLOCK_UNREGISTER: on_unregister(s, m); break;
    default: abort();
    }
}

/* A timeout answers Redis 7.0's nil array, for the moves too. */
static void reply_timeout(rk_client *c) {
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_null_array(&r);
}

void blocking_cron(rk_shard *s) {
    if (!s->blocking || !s->blocking->nblocked) return;
    int64_t now = rk_mstime();
    rk_client *next;
    for (rk_client *c = s->blocking->blocked; c; c = next) {
        next = c->blocked->next;
        struct rk_blocked *b = c->blocked;
        if (b->rerunning || !b->deadline_ms || b->deadline_ms > now) continue;
        reply_timeout(c);
        unblock(c);
        client_resume(c);
    }
}

void blocking_client_gone(rk_client *c) {
    if (!c->blocked) return;
    if (c->blocked->rerunning) {
        /* The re-run's own reply will find the client gone; the owner learns
         * through the UNREGISTER below and clears its in-flight READY. */
        c->blocked->rerunning = 0;
    }
    unblock(c);
}

void ctx_block(rk_ctx *c, double timeout_seconds) {
    c->block_requested = 1;
    c->block_timeout = timeout_seconds;
}

void ctx_block_argv(rk_ctx *c, double timeout_seconds, const rk_slice *argv) {
    ctx_block(c, timeout_seconds);
    free(c->block_argv);
    c->block_argv = argv_dup(c->argc, argv); /* NULL (OOM): the plain argv is re-run */
}
