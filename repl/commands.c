/* commands.c: replication's commands on the shards (REPLICAOF, SLAVEOF,
 * ROLE, WAIT, REPLCONF, PSYNC, SYNC), their answers coming back from the
 * replication thread, the state it broadcasts, and the hooks core calls for
 * INFO's replication text and CONFIG SET of replication directives.
 *
 * Thread: a client's home shard for everything here (the coordinators run
 * where the client lives; MSG_REPL_CMD_DONE comes back there), except
 * repl_cmd_msg_new/free, which any thread may call on a message it owns.
 *
 * Why here and not on the replication thread: the client, its reply order
 * and its socket belong to its shard. A command the replication thread must
 * answer (its state: role, offsets, replicas) travels there as one
 * MSG_REPL_CMD holding the client's slot open (client_txn_begin, as WAITAOF
 * does); PSYNC/SYNC hand the socket itself over (MSG_REPL_HANDOFF) once the
 * client's earlier replies are on the wire. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/client.h"
#include "core/command.h"
#include "core/log.h"
#include "core/multikey.h"
#include "core/object.h"
#include "core/shard.h"
#include "repl/repl.h"

/* A repl_cmd_msg with what only its home shard reads: INFO's callback
 * (NULL for a client's command). argv and its bytes follow. */
typedef struct cmd_alloc {
    repl_cmd_msg m;
    void (*info_done)(void *ud, const char *text, size_t len);
    void *info_ud;
} cmd_alloc;

repl_cmd_msg *repl_cmd_msg_new(int argc, const rk_slice *argv)
{
    assert(argc > 0);
    size_t bytes = sizeof(cmd_alloc) + sizeof(rk_slice) * (size_t)argc;
    for (int i = 0; i < argc; i++)
        bytes += argv[i].len + 1;
    cmd_alloc *a = malloc(bytes);
    if (!a)
        return NULL;
    memset(a, 0, sizeof(*a));
    repl_cmd_msg *m = &a->m;
    m->m.type = MSG_REPL_CMD;
    m->resp = 2;
    m->argc = argc;
    m->argv = (rk_slice *)(a + 1);
    char *p = (char *)(m->argv + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i].ptr, argv[i].len);
        p[argv[i].len] = '\0';
        m->argv[i] = (rk_slice){p, argv[i].len};
        p += argv[i].len + 1;
    }
    rk_buf_init(&m->reply);
    return m;
}

void repl_cmd_msg_free(repl_cmd_msg *m)
{
    if (!m)
        return;
    rk_buf_free(&m->reply);
    free((cmd_alloc *)m);
}

static void coord_error(rk_client *c, const char *msg)
{
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_error(&r, msg);
    shard_count_error(c->home, msg);
}

/* Sends the command to the replication thread; its reply fills the
 * client's slot when MSG_REPL_CMD_DONE returns (the slot keeps the client
 * alive meanwhile, even if it disconnects). */
static void forward(rk_client *c, int argc, const rk_slice *argv)
{
    repl_cmd_msg *m = repl_cmd_msg_new(argc, argv);
    if (!m || client_txn_begin(c) != 0) {
        repl_cmd_msg_free(m);
        coord_error(c, "ERR out of memory");
        return;
    }
    m->home = c->home->id;
    m->client = c;
    m->client_id = c->id;
    m->resp = c->resp;
    repl_send(&m->m);
}

/* ---- REPLICAOF / SLAVEOF, ROLE, WAIT -------------------------------------- */

static void replicaof_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    /* Redis checks the port before anything changes; the rest (already
     * connected, the link) is the replication thread's. */
    if (!(rk_slice_eq_nocase(argv[1], "no") && rk_slice_eq_nocase(argv[2], "one"))) {
        long long port;
        if (!rk_str2ll(argv[2].ptr, argv[2].len, &port) || port < 0 || port > 65535) {
            coord_error(c, "ERR Invalid master port");
            return;
        }
    }
    forward(c, argc, argv);
}

static void role_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    forward(c, argc, argv);
}

static void wait_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    /* Inside EXEC Redis never blocks (CLIENT_DENY_BLOCKING): it answers how
     * many replicas acknowledged so far. Asking for 0 replicas is exactly
     * that question: the count comes back at once. A numreplicas that is
     * not a number goes as it is, for the thread's own error. */
    long long n;
    if (client_exec_txn(c) && rk_str2ll(argv[1].ptr, argv[1].len, &n)) {
        rk_slice nb[3] = {argv[0], RK_SLICE("0"), argv[2]};
        forward(c, 3, nb);
        return;
    }
    forward(c, argc, argv);
}

/* ---- REPLCONF --------------------------------------------------------------- */

static rk_client_repl *client_repl(rk_client *c)
{
    if (!c->repl)
        c->repl = calloc(1, sizeof(*c->repl));
    return c->repl;
}

/* REPLCONF rdb-filter-only: a space separated list whose only known filter
 * is "functions" (ringkv has none: the RDB then carries no keys). 0, or -1
 * with the reply written. */
static int parse_rdb_filter(rk_ctx *c, rk_slice v)
{
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && v.ptr[i] == ' ')
            i++;
        size_t start = i;
        while (i < v.len && v.ptr[i] != ' ')
            i++;
        if (i == start)
            break;
        rk_slice w = {v.ptr + start, i - start};
        if (!rk_slice_eq_nocase(w, "functions")) {
            ctx_errorf(c, "ERR Unsupported rdb-filter-only option: %.*s", (int)(w.len > 128 ? 128 : w.len), w.ptr);
            return -1;
        }
    }
    return 0;
}

/* Redis 7.0's replconfCommand: option/value pairs in order; ACK and GETACK
 * end the command without a reply (ACK counts only from a replica, which a
 * shard never holds: replicas live on the replication thread). */
static void replconf_proc(rk_ctx *c)
{
    rk_client *cl = c->client;
    if (c->argc % 2 == 0) {
        ctx_syntax_error(c);
        return;
    }
    for (int j = 1; j < c->argc; j += 2) {
        rk_slice opt = c->argv[j], val = c->argv[j + 1];
        if (rk_slice_eq_nocase(opt, "ack")) {
            return; /* from our master or a client: ignored, no reply */
        } else if (rk_slice_eq_nocase(opt, "getack")) {
            if (cl && (cl->flags & CLIENT_MASTER))
                replica_shard_send_ack(c->shard);
            return;
        }
        rk_client_repl *r = cl ? client_repl(cl) : NULL;
        if (!r) {
            ctx_oom(c);
            return;
        }
        if (rk_slice_eq_nocase(opt, "listening-port")) {
            long long port;
            if (ctx_arg_ll(c, j + 1, &port) != 0)
                return;
            r->listening_port = port;
        } else if (rk_slice_eq_nocase(opt, "ip-address")) {
            if (val.len >= sizeof(r->ip)) {
                ctx_errorf(c, "ERR REPLCONF ip-address provided by replica instance is too long: %zu bytes", val.len);
                return;
            }
            memcpy(r->ip, val.ptr, val.len);
            r->ip[val.len] = '\0';
        } else if (rk_slice_eq_nocase(opt, "capa")) {
            if (rk_slice_eq_nocase(val, "eof"))
                r->capa |= REPL_CAPA_EOF;
            else if (rk_slice_eq_nocase(val, "psync2"))
                r->capa |= REPL_CAPA_PSYNC2;
        } else if (rk_slice_eq_nocase(opt, "rdb-only")) {
            long long v;
            if (ctx_arg_ll(c, j + 1, &v) != 0)
                return;
            if (v < 0 || v > 1) {
                ctx_error(c, "ERR value is out of range, value must between 0 and 1");
                return;
            }
            r->rdb_only = (int)v;
        } else if (rk_slice_eq_nocase(opt, "rdb-filter-only")) {
            if (parse_rdb_filter(c, val) != 0)
                return;
            r->rdb_filter = 1;
        } else {
            ctx_errorf(c, "ERR Unrecognized REPLCONF option: %.*s", (int)(opt.len > 128 ? 128 : opt.len), opt.ptr);
            return;
        }
    }
    reply_ok(&c->r);
}

/* ---- PSYNC / SYNC ------------------------------------------------------------- */

/* Redis's replicationGetSlaveName. */
static void replica_name(const rk_client *c, char *buf, size_t cap)
{
    const rk_client_repl *r = c->repl;
    char ip[256];
    if (r && r->ip[0]) {
        snprintf(ip, sizeof ip, "%s", r->ip);
    } else {
        /* The peer is "ip:port" (IPv6 unbracketed): the address is what
         * precedes the last colon. */
        const char *colon = strrchr(c->peer, ':');
        size_t n = colon ? (size_t)(colon - c->peer) : strlen(c->peer);
        if (n >= sizeof ip)
            n = sizeof ip - 1;
        memcpy(ip, c->peer, n);
        ip[n] = '\0';
    }
    if (r && r->listening_port)
        snprintf(buf, cap, strchr(ip, ':') ? "[%s]:%lld" : "%s:%lld", ip, r->listening_port);
    else
        snprintf(buf, cap, "%s:<unknown-replica-port>", ip);
}

/* The socket left the shard's loop: the replication thread takes it. */
static void handoff_ready(rk_client *c, int fd, rk_buf *surplus, void *ud)
{
    (void)c;
    repl_handoff_msg *h = ud;
    if (fd < 0) {
        free(h); /* gone before: nothing to hand over */
        return;
    }
    h->fd = fd;
    h->surplus = *surplus;
    rk_buf_init(surplus);
    repl_send(&h->m);
}

static void sync_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    (void)cmd;
    rk_shard *s = c->home;
    const int is_psync = rk_slice_eq_nocase(argv[0], "psync");
    /* FAILOVER is not built: a master refuses its PSYNC as Redis does; on a
     * replica the option is ignored (no failover ever asks for it). */
    if (is_psync && argc > 3 && rk_slice_eq_nocase(argv[3], "failover") && !s->repl_view.is_replica) {
        coord_error(c, "ERR PSYNC FAILOVER can't be sent to a master.");
        return;
    }
    if (s->repl_view.is_replica && !s->repl_view.link_up) {
        coord_error(c, "NOMASTERLINK Can't SYNC while not connected with my master");
        return;
    }
    const rk_client_repl *r = c->repl;
    if (r && r->rdb_filter && !(r->capa & REPL_CAPA_EOF)) {
        coord_error(c, "ERR Filtered replica requires EOF capability");
        return;
    }
    char name[320];
    replica_name(c, name, sizeof name);
    rk_log(LL_NOTICE, "Replica %s asks for synchronization", name);
    long long offset = -1;
    if (is_psync && !rk_str2ll(argv[2].ptr, argv[2].len, &offset)) {
        rk_log(LL_WARNING, "Replica %s asks for synchronization but with a wrong offset", name);
        coord_error(c, "ERR value is not an integer or out of range");
        return;
    }
    repl_handoff_msg *h = calloc(1, sizeof(*h));
    if (!h) {
        coord_error(c, "ERR out of memory");
        return;
    }
    h->m.type = MSG_REPL_HANDOFF;
    h->fd = -1;
    h->is_psync = is_psync;
    if (!is_psync) {
        snprintf(h->replid, sizeof h->replid, "?");
    } else if (argv[1].len < sizeof h->replid) {
        memcpy(h->replid, argv[1].ptr, argv[1].len);
        h->replid[argv[1].len] = '\0';
    } else {
        /* Longer than any replid: matches none, yet is not "?" (which
         * Redis does not count as a failed partial sync). */
        snprintf(h->replid, sizeof h->replid, "-");
    }
    h->offset = offset;
    if (r) {
        h->capa = r->capa;
        h->listening_port = r->listening_port > 0 && r->listening_port <= 65535 ? (int)r->listening_port : 0;
        /* Longer names (up to Redis's 255) are cut to the message's room. */
        size_t n = strnlen(r->ip, sizeof h->ip - 1);
        memcpy(h->ip, r->ip, n);
        h->ip[n] = '\0';
    }
    snprintf(h->peer, sizeof h->peer, "%s", c->peer);
    h->client_id = c->id;
    rk_buf_init(&h->surplus);
    if (client_detach_socket(c, handoff_ready, h) != 0) {
        free(h);
        coord_error(c, "ERR out of memory");
    }
}

/* ---- messages from the replication thread (home shard) ---------------------- */

void repl_cmd_handle_msg(rk_shard *s, rk_msg *m)
{
    switch (m->type) {
    case MSG_REPL_CMD_DONE: {
        cmd_alloc *a = (cmd_alloc *)m;
        assert(a->m.home == s->id);
        if (a->info_done)
            a->info_done(a->info_ud, a->m.reply.data ? a->m.reply.data : "", a->m.reply.len);
        else
            client_txn_done(a->m.client, &a->m.reply);
        repl_cmd_msg_free(&a->m);
        break;
    }
    case MSG_REPL_STATE:
        client_repl_view_set(s, &((repl_state_msg *)m)->view);
        free(m);
        break;
    default:
        assert(0 && "a MSG_REPL_* of block 1 that shards never receive");
        free(m);
    }
}

/* ---- hooks for core ------------------------------------------------------------ */

static int info_request(rk_shard *s, const char *what, void (*done)(void *ud, const char *text, size_t len),
                        void *ud)
{
    rk_slice argv[2] = {RK_SLICE("info"), {what, strlen(what)}};
    repl_cmd_msg *m = repl_cmd_msg_new(2, argv);
    if (!m)
        return -1;
    cmd_alloc *a = (cmd_alloc *)m;
    a->info_done = done;
    a->info_ud = ud;
    m->home = s->id;
    repl_send(&m->m);
    return 0;
}

static void config_forward(rk_shard *s, const char *name, const char *value)
{
    (void)s;
    repl_config_msg *m = calloc(1, sizeof(*m));
    if (!m || strlen(name) >= sizeof m->name || strlen(value) >= sizeof m->value) {
        rk_log(LL_WARNING, "CONFIG SET %s: the replication thread keeps its old value (%s)", name,
               m ? "value too long" : "out of memory");
        free(m);
        return;
    }
    m->m.type = MSG_REPL_CONFIG;
    memcpy(m->name, name, strlen(name) + 1);
    memcpy(m->value, value, strlen(value) + 1);
    repl_send(&m->m);
}

void repl_commands_install(void)
{
    g_shard_plugins.repl_info = info_request;
    g_shard_plugins.repl_config_set = config_forward;
}

/* ---- the table: Redis 7.0's arity, flags, categories and docs ---------------- */

const rk_command rk_repl_commands[] = {
    {.name = "replicaof", .arity = 3, .flags = CMD_NO_ASYNC_LOADING | CMD_ADMIN | CMD_NOSCRIPT | CMD_STALE,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = replicaof_coord,
     .summary = "Make the server a replica of another instance, or promote it as master.", .since = "5.0.0",
     .group = "server", .complexity = "O(1)"},
    {.name = "slaveof", .arity = 3, .flags = CMD_NO_ASYNC_LOADING | CMD_ADMIN | CMD_NOSCRIPT | CMD_STALE,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = replicaof_coord,
     .summary = "Make the server a replica of another instance, or promote it as master.", .since = "1.0.0",
     .group = "server", .complexity = "O(1)"},
    {.name = "role", .arity = 1, .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_SENTINEL,
     .acl_categories = "@admin @fast @dangerous", .exec = EXEC_ALL, .coord = role_coord,
     .summary = "Return the role of the instance in the context of replication", .since = "2.8.12",
     .group = "server", .complexity = "O(1)"},
    {.name = "wait", .arity = 3, .flags = CMD_NOSCRIPT, .acl_categories = "@slow @connection", .exec = EXEC_ALL,
     .coord = wait_coord,
     .summary = "Wait for the synchronous replication of all the write commands sent in the context of the "
                "current connection",
     .since = "3.0.0", .group = "generic", .complexity = "O(1)",
     .tips = "request_policy:all_shards response_policy:agg_min"},
    {.name = "replconf", .arity = -1, .flags = CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_ALLOW_BUSY,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_CONN, .proc = replconf_proc,
     .summary = "An internal command for configuring the replication stream", .since = "3.0.0",
     .group = "server", .complexity = "O(1)"},
    {.name = "psync", .arity = -3, .flags = CMD_NO_ASYNC_LOADING | CMD_ADMIN | CMD_NO_MULTI | CMD_NOSCRIPT,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = sync_coord,
     .summary = "Internal command used for replication", .since = "2.8.0", .group = "server"},
    {.name = "sync", .arity = 1, .flags = CMD_NO_ASYNC_LOADING | CMD_ADMIN | CMD_NO_MULTI | CMD_NOSCRIPT,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = sync_coord,
     .summary = "Internal command used for replication", .since = "1.0.0", .group = "server"},
    {0},
};
