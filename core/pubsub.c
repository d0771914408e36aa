/* pubsub.c: Pub/Sub across shard threads: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE,
 * PUBLISH, SPUBLISH and PUBSUB (table rk_pubsub_commands).
 *
 * Ownership, with no data shared between threads:
 *   - a channel (and a shard channel) is owned by the shard
 *     rk_key_shard(channel): that shard's registry maps it to its
 *     subscribers (client id -> home shard id);
 *   - patterns are registered on EVERY shard, so a channel's owner can
 *     match them when something is published;
 *   - a client's own subscriptions (ps_client, c->pubsub) and the per-shard
 *     id -> client table of subscribed clients live on the client's home
 *     shard. Deliveries find clients by id there, never by a pointer that
 *     came from another thread, so a message arriving after its client is
 *     gone is simply dropped.
 *
 * Threads: procs and coordinators run on the client's home shard; the
 * message handlers run on the shard that received the message; PUBSUB hops
 * run on each shard and read only that shard's registry.
 *
 * Ordering: the home shard applies its own registry changes directly and
 * sends the others as messages before it replies to the client. A mailbox
 * is FIFO per sender, and PUBLISH always travels to the owner through the
 * mailbox (even to itself), so a PUBLISH issued after a subscribe reply was
 * seen always finds the subscription. Deliveries always go through the
 * home shard's mailbox too, so one owner's messages reach a subscriber in
 * publish order.
 *
 * Invariants: c->nsubs/npsubs/nssubs are the sizes of the client's three
 * sets; CLIENT_PUBSUB is set and the client is in its home's id table
 * exactly while their sum is positive; a registry entry exists only while
 * it has at least one subscriber. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/client.h"
#include "core/command.h"
#include "core/config.h"
#include "core/dict.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/multikey.h"
#include "core/pubsub.h"
#include "core/shard.h"
#include "core/txn.h"

/* The three kinds of subscription; a delivery's kind is the subscription's
 * kind that matched (message, pmessage, smessage). */
enum { PS_CHANNEL = 0, PS_PATTERN = 1, PS_SHARD = 2, PS_KINDS = 3 };

static const struct {
    const char *sub, *unsub, *message;
} k_kind_names[PS_KINDS] = {
    {"subscribe", "unsubscribe", "message"},
    {"psubscribe", "punsubscribe", "pmessage"},
    {"ssubscribe", "sunsubscribe", "smessage"},
};

enum {
    MSG_PS_REGISTER = MSG_PUBSUB_FIRST, /* home -> owner(s): add/remove a subscriber */
    MSG_PS_PUBLISH,                     /* home -> owner: publish, count receivers */
    MSG_PS_PUBLISHED,                   /* owner -> home: the same message with the count */
    MSG_PS_DELIVER,                     /* owner -> subscribers' home: one push for listed clients */
};

/* ---- Names and dictionaries ------------------------------------------- */

/* A channel or pattern name. Stored names point ptr at bytes; a lookup
 * key built on the stack points it at the argument. */
typedef struct ps_name {
    size_t len;
    const char *ptr;
    char bytes[];
} ps_name;

static ps_name *name_new(const char *p, size_t len) {
    ps_name *n = rk_malloc(sizeof(*n) + len + 1);
    if (!n) return NULL;
    memcpy(n->bytes, p, len);
    n->bytes[len] = '\0';
    n->len = len;
    n->ptr = n->bytes;
    return n;
}

static uint64_t name_hash(const void *key) {
    const ps_name *n = key;
    return dict_gen_hash(n->ptr, n->len);
}

static int name_equal(const void *a, const void *b) {
    const ps_name *x = a, *y = b;
    return x->len == y->len && memcmp(x->ptr, y->ptr, x->len) == 0;
}

static void name_free(void *key) { rk_free(key); }

static void subs_free(void *val) { dict_release(val); }

static uint64_t id_hash(const void *key) {
    uint64_t id = (uint64_t)(uintptr_t)key;
    return dict_gen_hash(&id, sizeof(id));
}

/* A client's set of names. */
static const dict_type k_name_set_type = {name_hash, name_equal, name_free, NULL};
/* Registry: name -> subscriber set (a dict with k_id_type). */
static const dict_type k_registry_type = {name_hash, name_equal, name_free, subs_free};
/* Client id (the key itself, ids are never 0) -> home shard id or client pointer. */
static const dict_type k_id_type = {id_hash, NULL, NULL, NULL};

static inline void *id_key(uint64_t id) { return (void *)(uintptr_t)id; }

static dict_entry *name_find(dict *d, const char *p, size_t len) {
    ps_name key = {.len = len, .ptr = p};
    return dict_find(d, &key);
}

/* ---- Per-shard and per-client state ------------------------------------ */

typedef struct ps_shard {
    dict *registry[PS_KINDS]; /* channels owned here, all patterns, shard channels owned here */
    dict *clients;            /* id -> rk_client*, subscribed clients homed here */
} ps_shard;

/* Slot i is created, read and written only by shard i's thread. */
static ps_shard *g_ps[RK_MAX_SHARDS];

static ps_shard *shard_state(rk_shard *s) {
    assert(s == rk_this_shard);
    ps_shard *ps = g_ps[s->id];
    if (ps) return ps;
    ps = rk_calloc(sizeof(*ps));
    if (!ps) return NULL;
    for (int k = 0; k < PS_KINDS; k++) {
        ps->registry[k] = dict_create(&k_registry_type);
        if (!ps->registry[k]) goto fail;
    }
    ps->clients = dict_create(&k_id_type);
    if (!ps->clients) goto fail;
    g_ps[s->id] = ps;
    return ps;
fail:
    for (int k = 0; k < PS_KINDS; k++)
        if (ps->registry[k]) dict_release(ps->registry[k]);
    rk_free(ps);
    return NULL;
}

typedef struct ps_client {
    dict *sets[PS_KINDS];
} ps_client;

static ps_client *client_state(rk_client *c) {
    if (c->pubsub) return c->pubsub;
    ps_client *pc = rk_calloc(sizeof(*pc));
    if (!pc) return NULL;
    for (int k = 0; k < PS_KINDS; k++) {
        pc->sets[k] = dict_create(&k_name_set_type);
        if (!pc->sets[k]) {
            for (int j = 0; j < k; j++) dict_release(pc->sets[j]);
            rk_free(pc);
            return NULL;
        }
    }
    c->pubsub = pc;
    return pc;
}

static uint32_t *kind_count(rk_client *c, int kind) {
    return kind == PS_CHANNEL ? &c->nsubs : kind == PS_PATTERN ? &c->npsubs : &c->nssubs;
}

/* The count Redis shows in (un)subscribe replies: shard channels are
 * counted apart from channels and patterns. */
static int64_t reply_count(const rk_client *c, int kind) {
    return kind == PS_SHARD ? (int64_t)c->nssubs : (int64_t)c->nsubs + c->npsubs;
}

static uint32_t total_subs(const rk_client *c) { return c->nsubs + c->npsubs + c->nssubs; }

/* Enters the client in its home's id table; -1 on allocation failure. */
static int track_client(ps_shard *ps, rk_client *c) {
    dict_entry *existing = NULL;
    dict_entry *e = dict_add_raw(ps->clients, id_key(c->id), &existing);
    if (e) e->v.val = c;
    return e || existing ? 0 : -1;
}

/* After subscriptions changed: keeps the flag and the id table in line
 * with the counts, and frees the per-client state when nothing is left. */
static void client_settle(ps_shard *ps, rk_client *c) {
    if (total_subs(c) > 0) {
        c->flags |= CLIENT_PUBSUB;
        return;
    }
    c->flags &= ~(uint32_t)CLIENT_PUBSUB;
    if (ps) dict_delete(ps->clients, id_key(c->id));
    ps_client *pc = c->pubsub;
    if (pc) {
        for (int k = 0; k < PS_KINDS; k++) dict_release(pc->sets[k]);
        rk_free(pc);
        c->pubsub = NULL;
    }
}

/* ---- Registry (owner side) ------------------------------------------------ */

typedef struct ps_reg_msg {
    rk_msg m;
    int kind;
    int add;
    int home;
    uint64_t id;
    size_t len;
    char name[];
} ps_reg_msg;

/* Adds or removes subscriber `id` (homed on `home`) under a name. Returns
 * -1 when an addition ran out of memory (nothing changed then). */
static int registry_apply(ps_shard *ps, int kind, int add, uint64_t id, int home, const char *p,
                          size_t len) {
    dict *reg = ps->registry[kind];
    dict_entry *e = name_find(reg, p, len);
    if (!add) {
        if (!e) return 0;
        dict *subs = e->v.val;
        dict_delete(subs, id_key(id));
        if (dict_size(subs) == 0) {
            ps_name key = {.len = len, .ptr = p};
            dict_delete(reg, &key);
        }
        return 0;
    }
    if (!e) {
        ps_name *n = name_new(p, len);
        dict *subs = dict_create(&k_id_type);
        if (!n || !subs) {
            rk_free(n);
            if (subs) dict_release(subs);
            return -1;
        }
        e = dict_add_raw(reg, n, NULL);
        if (!e) {
            rk_free(n);
            dict_release(subs);
            return -1;
        }
        e->v.val = subs;
    }
    dict *subs = e->v.val;
    dict_entry *existing = NULL;
    dict_entry *se = dict_add_raw(subs, id_key(id), &existing);
    if (se) se->v.s64 = home;
    else if (existing) existing->v.s64 = home;
    else {
        if (dict_size(subs) == 0) {
            ps_name key = {.len = len, .ptr = p};
            dict_delete(reg, &key);
        }
        return -1;
    }
    return 0;
}

static void registry_apply_logged(ps_shard *ps, int kind, int add, uint64_t id, int home,
                                  const char *p, size_t len) {
    if (registry_apply(ps, kind, add, id, home, p, len) != 0)
        rk_log(LL_WARNING, "Out of memory registering a %s subscription of client id=%llu: messages to it are lost",
               k_kind_names[kind].sub, (unsigned long long)id);
}

static void send_register(int to, int kind, int add, uint64_t id, int home, const char *p, size_t len) {
    ps_reg_msg *m = malloc(sizeof(*m) + len);
    if (!m) {
        rk_log(LL_WARNING, "Out of memory sending a %s registration of client id=%llu: it is lost",
               k_kind_names[kind].sub, (unsigned long long)id);
        return;
    }
    m->m.type = MSG_PS_REGISTER;
    m->kind = kind;
    m->add = add;
    m->home = home;
    m->id = id;
    m->len = len;
    memcpy(m->name, p, len);
    shard_send(to, &m->m);
}

/* Tells every shard that must know (the owner, or all for a pattern) that
 * the client subscribed or unsubscribed. The home applies its own part now. */
static void announce(rk_shard *home, ps_shard *ps, int kind, int add, uint64_t id, const char *p,
                     size_t len) {
    int owner = kind == PS_PATTERN ? -1 : rk_key_shard(p, len);
    assert(ps != NULL);
    for (int i = 0; i < g_nshards; i++) {
        if (owner >= 0 && i != owner) continue;
        if (i == home->id) registry_apply_logged(ps, kind, add, id, home->id, p, len);
        else send_register(i, kind, add, id, home->id, p, len);
    }
}

static void on_register(rk_shard *s, ps_reg_msg *m) {
    ps_shard *ps = shard_state(s);
    if (ps) registry_apply_logged(ps, m->kind, m->add, m->id, m->home, m->name, m->len);
    else rk_log(LL_WARNING, "Out of memory creating the Pub/Sub registry of shard %d", s->id);
    free(m);
}

/* ---- Delivery ------------------------------------------------------------- */

typedef struct ps_deliver_msg {
    rk_msg m;
    int kind;
    uint32_t nids;
    const char *pattern, *channel, *payload; /* into the same allocation */
    size_t patlen, chlen, paylen;
    uint64_t ids[];
} ps_deliver_msg;

static ps_deliver_msg *deliver_msg_new(int kind, uint32_t nids, rk_slice pat, rk_slice ch, rk_slice payload) {
    size_t bytes = sizeof(ps_deliver_msg) + sizeof(uint64_t) * nids + pat.len + ch.len + payload.len;
    ps_deliver_msg *m = malloc(bytes);
    if (!m) return NULL;
    m->m.type = MSG_PS_DELIVER;
    m->kind = kind;
    m->nids = 0;
    char *p = (char *)(m->ids + nids);
    memcpy(p, pat.ptr, pat.len);
    m->pattern = p;
    m->patlen = pat.len;
    p += pat.len;
    memcpy(p, ch.ptr, ch.len);
    m->channel = p;
    m->chlen = ch.len;
    p += ch.len;
    memcpy(p, payload.ptr, payload.len);
    m->payload = p;
    m->paylen = payload.len;
    return m;
}

/* Sends one delivery per home shard to the subscribers in `subs`.
 * Returns how many subscribers it counted (Redis counts them all). */
static uint64_t fan_out(dict *subs, int kind, rk_slice pat, rk_slice ch, rk_slice payload) {
    uint32_t per_home[RK_MAX_SHARDS] = {0};
    ps_deliver_msg *msgs[RK_MAX_SHARDS] = {0};
    dict_iter it;
    dict_entry *e;
    dict_iter_init(&it, subs, 0);
    while ((e = dict_next(&it)) != NULL) {
        assert(e->v.s64 >= 0 && e->v.s64 < g_nshards);
        per_home[e->v.s64]++;
    }
    dict_iter_release(&it);
    for (int h = 0; h < g_nshards; h++) {
        if (!per_home[h]) continue;
        msgs[h] = deliver_msg_new(kind, per_home[h], pat, ch, payload);
        if (!msgs[h])
            rk_log(LL_WARNING, "Out of memory delivering a Pub/Sub message to shard %d: %u clients miss it",
                   h, per_home[h]);
    }
    dict_iter_init(&it, subs, 0);
    while ((e = dict_next(&it)) != NULL) {
        ps_deliver_msg *m = msgs[e->v.s64];
        if (m) m->ids[m->nids++] = (uint64_t)(uintptr_t)e->key;
    }
    dict_iter_release(&it);
    for (int h = 0; h < g_nshards; h++)
        if (msgs[h]) shard_send(h, &msgs[h]->m);
    return dict_size(subs);
}

/* Runs on the channel's owner: counts receivers and sends the deliveries. */
static uint64_t publish_here(rk_shard *s, int kind, rk_slice ch, rk_slice payload) {
    ps_shard *ps = shard_state(s);
    if (!ps) return 0;
    rk_slice none = {"", 0};
    uint64_t receivers = 0;
    dict_entry *e = name_find(ps->registry[kind], ch.ptr, ch.len);
    if (e) receivers += fan_out(e->v.val, kind, none, ch, payload);
    if (kind != PS_CHANNEL) return receivers;
    dict_iter it;
    dict_iter_init(&it, ps->registry[PS_PATTERN], 0);
    while ((e = dict_next(&it)) != NULL) {
        const ps_name *pat = e->key;
        if (glob_match(pat->ptr, pat->len, ch.ptr, ch.len, 0))
            receivers += fan_out(e->v.val, PS_PATTERN, (rk_slice){pat->ptr, pat->len}, ch, payload);
    }
    dict_iter_release(&it);
    return receivers;
}

/* Writes one push for client c, whole or not at all. */
static int write_push(rk_client *c, const ps_deliver_msg *m) {
    rk_buf *out = client_reply_buf(c);
    if (rk_buf_reserve(out, 128 + m->patlen + m->chlen + m->paylen) != 0) return -1;
    rk_reply r = {out, c->resp};
    const char *word = k_kind_names[m->kind].message;
    reply_push(&r, m->kind == PS_PATTERN ? 4 : 3);
    reply_bulk(&r, word, strlen(word));
    if (m->kind == PS_PATTERN) reply_bulk(&r, m->pattern, m->patlen);
    reply_bulk(&r, m->channel, m->chlen);
    reply_bulk(&r, m->payload, m->paylen);
    return 0;
}

/* Runs on the subscribers' home shard. */
static void on_deliver(rk_shard *s, ps_deliver_msg *m) {
    ps_shard *ps = g_ps[s->id];
    for (uint32_t i = 0; ps && i < m->nids; i++) {
        dict_entry *e = dict_find(ps->clients, id_key(m->ids[i]));
        if (!e) continue; /* gone, or unsubscribed from everything */
        rk_client *c = e->v.val;
        if (!c->conn || (c->flags & CLIENT_CLOSE_ASAP)) continue;
        ps_client *pc = c->pubsub;
        assert(pc != NULL);
        /* It may have unsubscribed after the owner counted it. */
        const char *name = m->kind == PS_PATTERN ? m->pattern : m->channel;
        size_t len = m->kind == PS_PATTERN ? m->patlen : m->chlen;
        if (!name_find(pc->sets[m->kind], name, len)) continue;
        if (write_push(c, m) != 0) {
            client_kill(c);
            continue;
        }
        client_check_output_limits(c);
    }
    free(m);
}

/* ---- PUBLISH / SPUBLISH ------------------------------------------------ */

typedef struct ps_publish_msg {
    rk_msg m;
    rk_client *client; /* dereferenced only on the home shard */
    int home;
    int kind;
    uint64_t receivers;
    size_t chlen, paylen;
    char data[]; /* channel then payload */
} ps_publish_msg;

static void coord_error(rk_client *c, const char *msg) {
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_error(&r, msg);
    shard_count_error(c->home, msg);
}

/* The owner may be this shard: the request still goes through the mailbox,
 * behind any registration that reached it earlier. The client waits like
 * for a transaction (nothing after it runs before the reply). */
static void publish_generic(rk_client *c, int kind, rk_slice ch, rk_slice payload) {
    ps_publish_msg *m = malloc(sizeof(*m) + ch.len + payload.len);
    if (!m) { coord_error(c, "ERR out of memory"); return; }
    m->m.type = MSG_PS_PUBLISH;
    m->client = c;
    m->home = c->home->id;
    m->kind = kind;
    m->receivers = 0;
    m->chlen = ch.len;
    m->paylen = payload.len;
    memcpy(m->data, ch.ptr, ch.len);
    memcpy(m->data + ch.len, payload.ptr, payload.len);
    if (client_txn_begin(c) != 0) {
        free(m);
        coord_error(c, "ERR out of memory");
        return;
    }
    shard_send(rk_key_shard(ch.ptr, ch.len), &m->m);
}

static void on_publish(rk_shard *s, ps_publish_msg *m) {
    m->receivers = publish_here(s, m->kind, (rk_slice){m->data, m->chlen},
                                (rk_slice){m->data + m->chlen, m->paylen});
    m->m.type = MSG_PS_PUBLISHED;
    shard_send(m->home, &m->m);
}

static void on_published(ps_publish_msg *m) {
    rk_client *c = m->client;
    rk_buf reply;
    rk_buf_init(&reply);
    rk_reply r = {&reply, c->resp};
    int failed = reply_int(&r, (int64_t)m->receivers) != 0;
    free(m);
    client_txn_done(c, &reply);
    rk_buf_free(&reply);
    if (failed) client_kill(c); /* its reply is missing: the stream would be out of step */
}

static void publish_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    (void)cmd;
    (void)argc;
    publish_generic(c, PS_CHANNEL, argv[1], argv[2]);
}

static void spublish_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    (void)cmd;
    (void)argc;
    publish_generic(c, PS_SHARD, argv[1], argv[2]);
}

/* ---- Messages ----------------------------------------------------------- */

void pubsub_handle_msg(rk_shard *s, rk_msg *m) {
    switch (m->type) {
    case MSG_PS_REGISTER: on_register(s, (ps_reg_msg *)m); break;
    case MSG_PS_PUBLISH: on_publish(s, (ps_publish_msg *)m); break;
    case MSG_PS_PUBLISHED: on_published((ps_publish_msg *)m); break;
    case MSG_PS_DELIVER: on_deliver(s, (ps_deliver_msg *)m); break;
    default:
        rk_log(LL_WARNING, "Unknown Pub/Sub message type %d in shard %d mailbox: aborting", m->type, s->id);
        abort();
    }
}

/* ---- SUBSCRIBE family ------------------------------------------------------ */

static void reply_sub_event(rk_reply *r, const char *word, const char *p, size_t len, int has_name,
                            int64_t count) {
    reply_push(r, 3);
    reply_bulk_str(r, word);
    if (has_name) reply_bulk(r, p, len);
    else reply_null(r);
    reply_int(r, count);
}

static void subscribe_generic(rk_ctx *ctx, int kind) {
    rk_client *c = ctx->client;
    assert(c != NULL);
    ps_shard *ps = shard_state(ctx->shard);
    ps_client *pc = ps ? client_state(c) : NULL;
    if (!pc || track_client(ps, c) != 0) {
        if (pc) client_settle(ps, c);
        ctx_oom(ctx);
        return;
    }
    for (int i = 1; i < ctx->argc; i++) {
        rk_slice ch = ctx->argv[i];
        if (!name_find(pc->sets[kind], ch.ptr, ch.len)) {
            ps_name *n = name_new(ch.ptr, ch.len);
            if (!n || !dict_add_raw(pc->sets[kind], n, NULL)) {
                rk_free(n);
                ctx_oom(ctx);
                break;
            }
            (*kind_count(c, kind))++;
            announce(ctx->shard, ps, kind, 1, c->id, ch.ptr, ch.len);
        }
        reply_sub_event(&ctx->r, k_kind_names[kind].sub, ch.ptr, ch.len, 1, reply_count(c, kind));
    }
    client_settle(ps, c);
}

/* Drops one subscription: registries first, then the client's set (which
 * owns the name bytes). */
static void drop_subscription(rk_shard *home, ps_shard *ps, rk_client *c, int kind, const char *p, size_t len) {
    ps_client *pc = c->pubsub;
    announce(home, ps, kind, 0, c->id, p, len);
    ps_name key = {.len = len, .ptr = p};
    int rc = dict_delete(pc->sets[kind], &key);
    assert(rc == 0);
    (void)rc;
    (*kind_count(c, kind))--;
}

/* Unsubscribes from every name of one kind; with replies when r is set. */
static void unsubscribe_all(rk_shard *home, ps_shard *ps, rk_client *c, int kind, rk_reply *r) {
    ps_client *pc = c->pubsub;
    if (!pc || dict_size(pc->sets[kind]) == 0) {
        if (r) reply_sub_event(r, k_kind_names[kind].unsub, NULL, 0, 0, reply_count(c, kind));
        return;
    }
    dict_iter it;
    dict_entry *e;
    dict_iter_init(&it, pc->sets[kind], 1);
    while ((e = dict_next(&it)) != NULL) {
        const ps_name *n = e->key;
        /* The reply is written before the name's bytes are freed. */
        announce(home, ps, kind, 0, c->id, n->ptr, n->len);
        (*kind_count(c, kind))--;
        if (r) reply_sub_event(r, k_kind_names[kind].unsub, n->ptr, n->len, 1, reply_count(c, kind));
        dict_delete(pc->sets[kind], n);
    }
    dict_iter_release(&it);
}

static void unsubscribe_generic(rk_ctx *ctx, int kind) {
    rk_client *c = ctx->client;
    assert(c != NULL);
    ps_shard *ps = g_ps[ctx->shard->id];
    if (ctx->argc == 1) {
        unsubscribe_all(ctx->shard, ps, c, kind, &ctx->r);
    } else {
        for (int i = 1; i < ctx->argc; i++) {
            rk_slice ch = ctx->argv[i];
            ps_client *pc = c->pubsub;
            if (pc && name_find(pc->sets[kind], ch.ptr, ch.len))
                drop_subscription(ctx->shard, ps, c, kind, ch.ptr, ch.len);
            reply_sub_event(&ctx->r, k_kind_names[kind].unsub, ch.ptr, ch.len, 1, reply_count(c, kind));
        }
    }
    client_settle(ps, c);
}

static void subscribe_proc(rk_ctx *c) { subscribe_generic(c, PS_CHANNEL); }
static void psubscribe_proc(rk_ctx *c) { subscribe_generic(c, PS_PATTERN); }
static void ssubscribe_proc(rk_ctx *c) { subscribe_generic(c, PS_SHARD); }
static void unsubscribe_proc(rk_ctx *c) { unsubscribe_generic(c, PS_CHANNEL); }
static void punsubscribe_proc(rk_ctx *c) { unsubscribe_generic(c, PS_PATTERN); }
static void sunsubscribe_proc(rk_ctx *c) { unsubscribe_generic(c, PS_SHARD); }

/* ---- Hooks ------------------------------------------------------------------ */

void pubsub_client_reset(rk_client *c) {
    ps_shard *ps = g_ps[c->home->id];
    for (int k = 0; k < PS_KINDS; k++) unsubscribe_all(c->home, ps, c, k, NULL);
    client_settle(ps, c);
}

void pubsub_client_gone(rk_client *c) { pubsub_client_reset(c); }

int pubsub_check_allowed(rk_client *c, const rk_command *cmd, rk_reply *r) {
    static const char *const allowed[] = {"ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe",
                                          "psubscribe", "punsubscribe", "quit", "reset", NULL};
    if (!(c->flags & CLIENT_PUBSUB) || c->resp != 2) return 0;
    if (!cmd_parent(cmd))
        for (int i = 0; allowed[i]; i++)
            if (!strcmp(cmd->name, allowed[i])) return 0;
    reply_errorf(r,
                 "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                 "allowed in this context",
                 cmd_full_name(cmd));
    c->home->cmdstats[cmd->id].rejected_calls++;
    return -1;
}

void pubsub_shard_counts(rk_shard *s, uint64_t *channels, uint64_t *patterns, uint64_t *shard_channels) {
    ps_shard *ps = g_ps[s->id];
    *channels = ps ? dict_size(ps->registry[PS_CHANNEL]) : 0;
    *patterns = ps ? dict_size(ps->registry[PS_PATTERN]) : 0;
    *shard_channels = ps ? dict_size(ps->registry[PS_SHARD]) : 0;
}

/* ---- PUBSUB subcommands --------------------------------------------------- */

/* Each hop result ends with a status byte 'K'; a hop that ran out of
 * memory leaves its slot empty, which the step reports as an error. */
static void hop_status(rk_buf *out, int ok) {
    if (ok && rk_buf_append(out, "K", 1) == 0) return;
    rk_buf_clear(out);
}

static int hops_ok(rk_txn *t) {
    for (int i = 0; i < g_nshards; i++)
        if (t->out[i].len == 0 || t->out[i].data[t->out[i].len - 1] != 'K') return 0;
    return 1;
}

static void step_oom(rk_txn *t) {
    reply_error(&t->r, "ERR out of memory");
    shard_count_error(t->coord, "ERR");
    txn_finish(t);
}

static int kind_of_txn(const rk_txn *t) { return (int)(intptr_t)t->arg; }

static void start_all(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv, int kind,
                      rk_hop_fn *hop, rk_step_fn *step) {
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) { coord_error(c, "ERR out of memory"); return; }
    t->arg = (void *)(intptr_t)kind;
    txn_start(t, hop, step);
}

/* CHANNELS / SHARDCHANNELS: each shard lists the names it owns, as
 * [size_t len][bytes] records followed by the status byte. */
static void channels_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    ps_shard *ps = g_ps[s->id];
    int ok = 1;
    if (ps) {
        rk_slice pat = t->argc > 2 ? t->argv[2] : (rk_slice){NULL, 0};
        dict_iter it;
        dict_entry *e;
        dict_iter_init(&it, ps->registry[kind_of_txn(t)], 0);
        while (ok && (e = dict_next(&it)) != NULL) {
            const ps_name *n = e->key;
            if (pat.ptr && !glob_match(pat.ptr, pat.len, n->ptr, n->len, 0)) continue;
            ok = rk_buf_append(out, &n->len, sizeof(n->len)) == 0 && rk_buf_append(out, n->ptr, n->len) == 0;
        }
        dict_iter_release(&it);
    }
    hop_status(out, ok);
}

static void channels_step(rk_txn *t) {
    if (!hops_ok(t)) { step_oom(t); return; }
    int64_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) reply_array(&t->r, n);
        for (int i = 0; i < g_nshards; i++) {
            const char *p = t->out[i].data, *end = p + t->out[i].len - 1;
            while (p < end) {
                size_t len;
                memcpy(&len, p, sizeof(len));
                p += sizeof(len);
                if (pass == 0) n++;
                else reply_bulk(&t->r, p, len);
                p += len;
            }
        }
    }
    txn_finish(t);
}

/* NUMSUB / SHARDNUMSUB: each shard answers one uint64_t per channel
 * argument (0 for channels it does not own); the step adds them up. */
static void numsub_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    ps_shard *ps = g_ps[s->id];
    int ok = 1;
    for (int i = 2; ok && i < t->argc; i++) {
        uint64_t count = 0;
        dict_entry *e = ps ? name_find(ps->registry[kind_of_txn(t)], t->argv[i].ptr, t->argv[i].len) : NULL;
        if (e) count = dict_size(e->v.val);
        ok = rk_buf_append(out, &count, sizeof(count)) == 0;
    }
    hop_status(out, ok);
}

static void numsub_step(rk_txn *t) {
    if (!hops_ok(t)) { step_oom(t); return; }
    reply_array(&t->r, (int64_t)(t->argc - 2) * 2);
    for (int i = 2; i < t->argc; i++) {
        uint64_t total = 0;
        for (int sh = 0; sh < g_nshards; sh++) {
            uint64_t count;
            memcpy(&count, t->out[sh].data + sizeof(count) * (size_t)(i - 2), sizeof(count));
            total += count;
        }
        reply_bulk(&t->r, t->argv[i].ptr, t->argv[i].len);
        reply_int(&t->r, (int64_t)total);
    }
    txn_finish(t);
}

/* NUMPAT: every shard holds every pattern; the largest count is the one
 * with every registration that reached any shard. */
static void numpat_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)t;
    ps_shard *ps = g_ps[s->id];
    uint64_t count = ps ? dict_size(ps->registry[PS_PATTERN]) : 0;
    hop_status(out, rk_buf_append(out, &count, sizeof(count)) == 0);
}

static void numpat_step(rk_txn *t) {
    if (!hops_ok(t)) { step_oom(t); return; }
    uint64_t most = 0;
    for (int i = 0; i < g_nshards; i++) {
        uint64_t count;
        memcpy(&count, t->out[i].data, sizeof(count));
        if (count > most) most = count;
    }
    reply_int(&t->r, (int64_t)most);
    txn_finish(t);
}

static int channels_args_ok(rk_client *c, int argc, rk_slice *argv) {
    if (argc <= 3) return 1;
    char msg[256];
    snprintf(msg, sizeof(msg), "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try PUBSUB HELP.",
             (int)(argv[1].len > 128 ? 128 : argv[1].len), argv[1].ptr);
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n') *p = ' ';
    coord_error(c, msg);
    return 0;
}

static void pubsub_channels_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    if (channels_args_ok(c, argc, argv)) start_all(c, cmd, argc, argv, PS_CHANNEL, channels_hop, channels_step);
}

static void pubsub_shardchannels_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    if (channels_args_ok(c, argc, argv)) start_all(c, cmd, argc, argv, PS_SHARD, channels_hop, channels_step);
}

static void pubsub_numsub_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    start_all(c, cmd, argc, argv, PS_CHANNEL, numsub_hop, numsub_step);
}

static void pubsub_shardnumsub_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    start_all(c, cmd, argc, argv, PS_SHARD, numsub_hop, numsub_step);
}

static void pubsub_numpat_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    start_all(c, cmd, argc, argv, PS_PATTERN, numpat_hop, numpat_step);
}

static void pubsub_help_proc(rk_ctx *c) {
    static const char *const lines[] = {
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    };
    int n = (int)(sizeof(lines) / sizeof(lines[0]));
    reply_array(&c->r, n);
    for (int i = 0; i < n; i++) reply_simple(&c->r, lines[i]);
}

/* ---- Command table ---------------------------------------------------------- */

#define SUB_FLAGS (CMD_PUBSUB | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)
#define PUB_FLAGS (CMD_PUBSUB | CMD_LOADING | CMD_STALE | CMD_FAST)
#define INFO_FLAGS (CMD_PUBSUB | CMD_LOADING | CMD_STALE)
/* Shard channels are declared as NOT_KEY key specs, as Redis does for cluster routing. */
#define NOT_KEY_SPEC(lastkey) {{"NOT_KEY", 1, NULL, 0, 0, (lastkey), 1, 0, 0, 0, 0}}, .n_keyspecs = 1

static const rk_command k_pubsub_subs[] = {
    {.name = "channels", .arity = -2, .flags = INFO_FLAGS, .acl_categories = "@pubsub @slow",
     .exec = EXEC_ALL, .coord = pubsub_channels_coord, .summary = "List active channels", .since = "2.8.0",
     .group = "pubsub", .complexity = "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)"},
    {.name = "help", .arity = 2, .flags = CMD_LOADING | CMD_STALE, .acl_categories = "@slow", .exec = EXEC_CONN,
     .proc = pubsub_help_proc, .summary = "Show helpful text about the different subcommands", .since = "6.2.0",
     .group = "pubsub", .complexity = "O(1)"},
    {.name = "numpat", .arity = 2, .flags = INFO_FLAGS, .acl_categories = "@pubsub @slow", .exec = EXEC_ALL,
     .coord = pubsub_numpat_coord, .summary = "Get the count of unique patterns pattern subscriptions",
     .since = "2.8.0", .group = "pubsub", .complexity = "O(1)"},
    {.name = "numsub", .arity = -2, .flags = INFO_FLAGS, .acl_categories = "@pubsub @slow", .exec = EXEC_ALL,
     .coord = pubsub_numsub_coord, .summary = "Get the count of subscribers for channels", .since = "2.8.0",
     .group = "pubsub", .complexity = "O(N) for the NUMSUB subcommand, where N is the number of requested channels"},
    {.name = "shardchannels", .arity = -2, .flags = INFO_FLAGS, .acl_categories = "@pubsub @slow",
     .exec = EXEC_ALL, .coord = pubsub_shardchannels_coord, .summary = "List active shard channels",
     .since = "7.0.0", .group = "pubsub", .complexity = "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels)."},
    {.name = "shardnumsub", .arity = -2, .flags = INFO_FLAGS, .acl_categories = "@pubsub @slow",
     .exec = EXEC_ALL, .coord = pubsub_shardnumsub_coord, .summary = "Get the count of subscribers for shard channels",
     .since = "7.0.0", .group = "pubsub", .complexity = "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels"},
    {0},
};

const rk_command rk_pubsub_commands[] = {
    {.name = "subscribe", .arity = -2, .flags = SUB_FLAGS, .acl_categories = "@pubsub @slow", .exec = EXEC_CONN,
     .proc = subscribe_proc, .summary = "Listen for messages published to the given channels", .since = "2.0.0",
     .group = "pubsub", .complexity = "O(N) where N is the number of channels to subscribe to."},
    {.name = "unsubscribe", .arity = -1, .flags = SUB_FLAGS, .acl_categories = "@pubsub @slow",
     .exec = EXEC_CONN, .proc = unsubscribe_proc, .summary = "Stop listening for messages posted to the given channels",
     .since = "2.0.0", .group = "pubsub", .complexity = "O(N) where N is the number of clients already subscribed to a channel."},
    {.name = "psubscribe", .arity = -2, .flags = SUB_FLAGS, .acl_categories = "@pubsub @slow", .exec = EXEC_CONN,
     .proc = psubscribe_proc, .summary = "Listen for messages published to channels matching the given patterns",
     .since = "2.0.0", .group = "pubsub", .complexity = "O(N) where N is the number of patterns the client is already subscribed to."},
    {.name = "punsubscribe", .arity = -1, .flags = SUB_FLAGS, .acl_categories = "@pubsub @slow",
     .exec = EXEC_CONN, .proc = punsubscribe_proc,
     .summary = "Stop listening for messages posted to channels matching the given patterns", .since = "2.0.0",
     .group = "pubsub", .complexity = "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client)."},
    {.name = "ssubscribe", .arity = -2, .flags = SUB_FLAGS, .acl_categories = "@pubsub @slow", .exec = EXEC_CONN,
     .proc = ssubscribe_proc, .first_key = 1, .last_key = -1, .key_step = 1, .keyspecs = NOT_KEY_SPEC(-1),
     .summary = "Listen for messages published to the given shard channels", .since = "7.0.0", .group = "pubsub",
     .complexity = "O(N) where N is the number of shard channels to subscribe to."},
    {.name = "sunsubscribe", .arity = -1, .flags = SUB_FLAGS, .acl_categories = "@pubsub @slow",
     .exec = EXEC_CONN, .proc = sunsubscribe_proc, .first_key = 1, .last_key = -1, .key_step = 1,
     .keyspecs = NOT_KEY_SPEC(-1), .summary = "Stop listening for messages posted to the given shard channels",
     .since = "7.0.0", .group = "pubsub", .complexity = "O(N) where N is the number of clients already subscribed to a shard channel."},
    {.name = "publish", .arity = 3, .flags = PUB_FLAGS, .acl_categories = "@pubsub @fast", .exec = EXEC_ALL,
     .coord = publish_coord, .summary = "Post a message to a channel", .since = "2.0.0", .group = "pubsub",
     .complexity = "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client)."},
    {.name = "spublish", .arity = 3, .flags = PUB_FLAGS, .acl_categories = "@pubsub @fast", .exec = EXEC_ALL,
     .coord = spublish_coord, .first_key = 1, .last_key = 1, .key_step = 1, .keyspecs = NOT_KEY_SPEC(0),
     .summary = "Post a message to a shard channel", .since = "7.0.0", .group = "pubsub",
     .complexity = "O(N) where N is the number of clients subscribed to the receiving shard channel."},
    {.name = "pubsub", .arity = -2, .acl_categories = "@slow", .exec = EXEC_CONN,
     .summary = "A container for Pub/Sub commands", .since = "2.8.0", .group = "pubsub",
     .complexity = "Depends on subcommand.", .subcommands = k_pubsub_subs},
    {0},
};
