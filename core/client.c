/* client.c: client connections on their home shard, command dispatch, and
 * the in-order delivery of replies.
 *
 * Thread: the home shard's thread for everything about a client;
 * shard_exec_request runs on the shard that owns a request's keys.
 *
 * Routing (per command, after arity and auth checks):
 *   no keys / EXEC_CONN / all keys on this shard -> run inline here;
 *   all keys on one other shard -> MSG_REQ to it, reply comes back as MSG_REPLY;
 *   keys on several shards, or EXEC_ALL -> an ordered transaction (txn.c,
 *   multikey.c), which waits until this client has nothing else in flight.
 * Per-key order holds because a key always goes to the same shard and a
 * shard's mailbox is FIFO per sender.
 *
 * Reply order invariant: replies reach the socket in request order. A reply
 * goes straight to the connection buffer only when no earlier reply is
 * pending; otherwise it waits in a slot behind the pending one. */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/client.h"
#include "core/command.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/multikey.h"
#include "core/multi.h"
#include "core/blocking.h"
#include "core/evict.h"
#include "core/journal.h"
#include "core/pubsub.h"
#include "core/shard.h"
#include "core/txn.h"
#include "storage/aof_writer.h"

static _Atomic uint64_t g_next_client_id = 1;
/* Connected clients over all shards, for maxclients: the one counter
 * shards share, updated with atomic adds only. */
static _Atomic int64_t g_connected_clients;

uint64_t client_next_id(void) { return g_next_client_id++; }

/* Redis's reply to a non-loopback client when protected mode applies. */
static const char protected_mode_msg[] =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to Redis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to Redis from the same host "
    "the server is running, however MAKE SURE Redis is not publicly accessible from internet if "
    "you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just "
    "disable the protected mode by editing the Redis configuration file, and setting the protected "
    "mode option to 'no', and then restarting the server. 3) If you started the server manually "
    "just for testing, restart it with the '--protected-mode no' option. 4) Set up an "
    "authentication password for the default user. NOTE: You only need to do one of the above "
    "things in order for the server to start accepting connections from the outside.\r\n";

/* Replies of commands run while CLIENT REPLY OFF/SKIP is on land here and are dropped. */
static __thread rk_buf t_discard;

/* ---- Reply slots --------------------------------------------------- */

static rk_reply_slot *slot_append(rk_client *c, int done) {
    rk_reply_slot *sl = calloc(1, sizeof(*sl));
    if (!sl) return NULL;
    sl->done = done;
    if (c->slots_tail) c->slots_tail->next = sl;
    else c->slots_head = sl;
    c->slots_tail = sl;
    return sl;
}

static size_t out_len(const rk_client *c) { return c->conn ? rk_conn_out(c->conn)->len : 0; }

/* Counts reply bytes that reached the connection since `before` was read. */
static void count_output(rk_client *c, size_t before) {
    size_t now = out_len(c);
    if (now > before) {
        c->home->stats.net_output_bytes += now - before;
        c->tot_net_out += now - before;
    }
}

/* Moves every finished reply at the head of the queue to the socket. */
static void slots_flush(rk_client *c) {
    while (c->slots_head && c->slots_head->done) {
        rk_reply_slot *sl = c->slots_head;
        if (c->conn && sl->data.len) {
            if (rk_buf_append(rk_conn_out(c->conn), sl->data.data, sl->data.len) != 0)
                client_kill(c);
        }
        c->slots_head = sl->next;
        if (!c->slots_head) c->slots_tail = NULL;
        rk_buf_free(&sl->data);
        free(sl);
    }
}

static int reply_discarded(const rk_client *c) {
    /* A master gets no replies from its replica (REPLCONF ACK goes through
     * client_master_write). */
    return c->conn == NULL || (c->flags & (CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP | CLIENT_MASTER));
}

rk_buf *client_reply_buf(rk_client *c) {
    if (c->exec_redirect) return c->exec_redirect;
    if (reply_discarded(c)) {
        rk_buf_clear(&t_discard);
        return &t_discard;
    }
    if (!c->slots_head) return rk_conn_out(c->conn);
    if (c->slots_tail->done) return &c->slots_tail->data;
    rk_reply_slot *sl = slot_append(c, 1);
    if (!sl) { client_kill(c); rk_buf_clear(&t_discard); return &t_discard; }
    return &sl->data;
}

/* ---- Life cycle ----------------------------------------------------- */

/* Like Redis, a refused connection gets one best-effort write of the
 * reason before the loop closes it; a full socket buffer just loses it. */
static void refuse_connection(rk_conn *conn, const char *msg, size_t len) {
    ssize_t n = send(rk_conn_fd(conn), msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
}

/* Shards serve clients before the replication thread starts (it starts
 * after loading) and its first view reaches them a moment later: meanwhile
 * a shard started with replicaof must already refuse writes (READONLY),
 * SYNC (NOMASTERLINK) and, with replica-serve-stale-data no, serve
 * MASTERDOWN, as Redis does from its first client. Slot i: shard i's
 * thread only; set once the view is the thread's or seeded. */
static unsigned char g_view_known[RK_MAX_SHARDS];

static void repl_view_seed(rk_shard *s) {
    assert(s->id >= 0 && s->id < RK_MAX_SHARDS);
    if (g_view_known[s->id]) return;
    g_view_known[s->id] = 1;
    memset(&s->repl_view, 0, sizeof(s->repl_view));
    s->repl_view.is_replica = s->cfg.replicaof_host != NULL;
}

void client_repl_view_set(rk_shard *s, const rk_repl_view *v) {
    assert(s->id >= 0 && s->id < RK_MAX_SHARDS);
    g_view_known[s->id] = 1;
    s->repl_view = *v;
}

void *client_on_accept(void *ud, rk_conn *conn) {
    rk_shard *s = ud;
    repl_view_seed(s); /* before this client's first command */
    s->stats.total_connections_received++;
    if (atomic_load_explicit(&g_connected_clients, memory_order_relaxed) >= s->cfg.maxclients) {
        s->stats.rejected_connections++;
        static const char maxclients_msg[] = "-ERR max number of clients reached\r\n";
        refuse_connection(conn, maxclients_msg, sizeof(maxclients_msg) - 1);
        return NULL;
    }
    if (s->cfg.protected_mode && s->cfg.requirepass == NULL && !rk_conn_peer_is_local(conn)) {
        rk_log(LL_WARNING, "Possible SECURITY ATTACK detected. Protected mode refused %s",
               rk_conn_peer(conn));
        refuse_connection(conn, protected_mode_msg, sizeof(protected_mode_msg) - 1);
        return NULL;
    }
    rk_client *c = calloc(1, sizeof(*c));
    if (!c) { rk_conn_close(conn, 0); return NULL; }
    c->id = client_next_id();
    c->home = s;
    c->conn = conn;
    c->resp = 2;
    c->ctime_ms = c->last_interaction_ms = rk_mstime();
    if (s->cfg.requirepass == NULL) c->flags |= CLIENT_AUTHENTICATED;
    snprintf(c->peer, sizeof(c->peer), "%s", rk_conn_peer(conn));
    snprintf(c->local, sizeof(c->local), "%s", rk_conn_local(conn));
    resp_parser_init(&c->parser, s->cfg.proto_max_bulk_len);
    c->next = s->clients;
    if (s->clients) s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    atomic_fetch_add_explicit(&g_connected_clients, 1, memory_order_relaxed);
    return c;
}

static void client_unlink(rk_client *c) {
    rk_shard *s = c->home;
    if (c->prev) c->prev->next = c->next;
    else if (s->clients == c) s->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nclients--;
    atomic_fetch_sub_explicit(&g_connected_clients, 1, memory_order_relaxed);
}

static void detach_list_remove(rk_client *c);

void client_on_close(void *ud) {
    rk_client *c = ud;
    c->conn = NULL;
    c->flags |= CLIENT_CONN_GONE;
    client_unlink(c);
    if (c->detach_fn) {
        /* Gone before its socket could leave: the taker learns it. */
        client_detach_fn *fn = c->detach_fn;
        detach_list_remove(c);
        c->detach_fn = NULL;
        fn(c, -1, NULL, c->detach_ud);
    }
    if ((c->flags & CLIENT_MASTER) && g_shard_plugins.repl_master_closed)
        g_shard_plugins.repl_master_closed(c->home);
    txn_forget_client(c->home, c);
    if (c->nsubs | c->npsubs | c->nssubs) pubsub_client_gone(c);
    multi_client_reset(c);
    blocking_client_gone(c);
    client_maybe_free(c);
}

void client_maybe_free(rk_client *c) {
    if (!(c->flags & CLIENT_CONN_GONE) || c->inflight > 0 || (c->flags & CLIENT_IN_TXN)) return;
    while (c->slots_head) {
        rk_reply_slot *sl = c->slots_head;
        c->slots_head = sl->next;
        rk_buf_free(&sl->data);
        free(sl);
    }
    rk_buf_free(&c->qbuf);
    rk_buf_free(&c->master_pending);
    resp_args_free(&c->args);
    free(c->repl);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    free(c);
}

void client_kill(rk_client *c) {
    if (c->conn) rk_conn_close(c->conn, 0);
    c->flags |= CLIENT_CLOSE_ASAP;
}

void client_close_after_reply(rk_client *c) { c->flags |= CLIENT_CLOSE_AFTER_REPLY; }

/* ---- Executing a command --------------------------------------------- */

/* A write changed the dataset: its keys may be WATCHed or waited on. Over
 * approximates (every key of the command), which for WATCH only means an
 * EXEC that aborts where Redis's finer tracking would not. */
static void touch_command_keys(rk_ctx *ctx) {
    int posbuf[256];
    int *pos = posbuf;
    if (ctx->argc > 256 && !(pos = malloc(sizeof(int) * (size_t)ctx->argc))) {
        /* Without memory to list the keys, touch none rather than some:
         * WATCHers then see the whole db as changed. */
        watch_touch_db(ctx->shard, ctx->db);
        return;
    }
    int n = cmd_get_keys(ctx->cmd, ctx->argc, ctx->argv, pos, ctx->argc > 256 ? ctx->argc : 256);
    for (int i = 0; i < n; i++) keyspace_touched(ctx->shard, ctx->db, ctx->argv[pos[i]]);
    if (pos != posbuf) free(pos);
}

static void announce_command_keys(rk_ctx *ctx) {
    int posbuf[256];
    int *pos = posbuf;
    if (ctx->argc > 256 && !(pos = malloc(sizeof(int) * (size_t)ctx->argc))) {
        /* Cannot list the keys: announce every key of the db instead. */
        db_announce_all(ctx->db);
        return;
    }
    int n = cmd_get_keys(ctx->cmd, ctx->argc, ctx->argv, pos, ctx->argc > 256 ? ctx->argc : 256);
    for (int i = 0; i < n; i++) db_announce(ctx->db, ctx->argv[pos[i]]);
    if (pos != posbuf) free(pos);
}

/* Journals what a command that changed the dataset propagates: its argv,
 * the override it set through ctx_propagate, or nothing. */
static void propagate(rk_ctx *ctx, rk_journal *j) {
    switch (ctx->prop_mode) {
    case PROP_ARGV:
        journal_append_argv(j, ctx->dbid, ctx->argc, ctx->argv);
        break;
    case PROP_CUSTOM:
        if (ctx->prop_count < 0) journal_lost(j);
        else journal_append_resp(j, ctx->dbid, ctx->prop.data, ctx->prop.len, ctx->prop_count);
        break;
    default:
        break;
    }
}

/* Runs cmd->proc with statistics and the slowlog, and journals its effect:
 * one propagation unit holds the keys it expired on the way and what it
 * propagates (Redis 7.0 wraps more than one in MULTI/EXEC). */
void cmd_call(rk_ctx *ctx) {
    rk_shard *s = ctx->shard;
    /* A replica ignores maxmemory (replica-ignore-maxmemory's default):
     * its master evicts and replicates the DELs. */
    if ((ctx->cmd->flags & CMD_DENYOOM) && !db_master_command && !s->repl_view.is_replica &&
        evict_make_room(s) != 0) {
        s->cmdstats[ctx->cmd->id].rejected_calls++;
        ctx_error(ctx, "OOM command not allowed when used memory > 'maxmemory'.");
        return;
    }
    int64_t start = rk_ustime();
    ctx->now_ms = start / 1000;
    s->cmd_time_ms = ctx->now_ms;
    int64_t dirty_before = s->dirty;
    /* A running snapshot must write a key's page before the key changes in place. */
    if (s->snap && (ctx->cmd->flags & CMD_WRITE)) announce_command_keys(ctx);
    rk_journal *jr = s->journal;
    const int journaling = journal_active(jr);
    if (journaling) journal_unit_begin(jr);
    ctx->cmd->proc(ctx);
    if (journaling) {
        if (s->dirty != dirty_before && !ctx->prop_suppressed) propagate(ctx, jr);
        journal_unit_end(jr);
    }
    rk_buf_free(&ctx->prop);
    int64_t dur = rk_ustime() - start;
    if (s->dirty != dirty_before && (watch_active(s) || blocking_active(s))) touch_command_keys(ctx);
    rk_cmdstat *st = &s->cmdstats[ctx->cmd->id];
    st->calls++;
    st->usec += (uint64_t)dur;
    if (ctx->errors) st->failed_calls++;
    s->stats.total_commands_processed++;
    if (!(ctx->cmd->flags & CMD_SKIP_SLOWLOG))
        shard_slowlog_maybe(s, ctx->argc, ctx->argv, dur, ctx->client ? ctx->client->peer : "",
                            ctx->client && ctx->client->name ? ctx->client->name : "");
}

static void exec_local(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    rk_ctx ctx;
    ctx_init(&ctx, c->home, c->db, c->resp, cmd, argc, argv, client_reply_buf(c));
    ctx.client = c;
    ctx.client_id = c->id;
    db_master_command = (c->flags & CLIENT_MASTER) != 0;
    cmd_call(&ctx);
    db_master_command = 0;
    c->last_cmd = cmd;
    if (ctx.block_requested) {
        if (c->blocked) blocking_rerun_finished(c, 1);
        else client_block_from(c, cmd, argc, ctx.block_argv ? ctx.block_argv : argv, ctx.block_timeout);
    } else if (c->blocked) {
        blocking_rerun_finished(c, 0);
    }
    free(ctx.block_argv);
}

void shard_exec_request(rk_shard *s, rk_req *req) {
    rk_ctx ctx;
    ctx_init(&ctx, s, req->dbid, req->resp, req->cmd, req->argc, req->argv, &req->reply);
    ctx.client_id = req->client_id;
    db_master_command = (req->client_flags & CLIENT_MASTER) != 0;
    cmd_call(&ctx);
    db_master_command = 0;
    req->blocked = ctx.block_requested;
    req->block_timeout = ctx.block_timeout;
    req->block_argv = ctx.block_argv;
    req->m.type = MSG_REPLY;
    /* Group commit across shards: under appendfsync always the reply goes
     * home only once the fsync covering this shard's write completed. */
    if (s->aofw && aof_writer_hold_reply(s, req)) return;
    shard_send(req->home, &req->m);
}

/* Copies the command into one message and sends it to the owning shard. */
static int send_remote(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv, int target) {
    size_t bytes = sizeof(rk_req) + sizeof(rk_slice) * (size_t)argc;
    for (int i = 0; i < argc; i++) bytes += argv[i].len + 1;
    rk_req *req = malloc(bytes);
    if (!req) return -1;
    memset(req, 0, sizeof(*req));
    req->argv = (rk_slice *)(req + 1);
    char *p = (char *)(req->argv + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i].ptr, argv[i].len);
        p[argv[i].len] = '\0';
        req->argv[i] = (rk_slice){p, argv[i].len};
        p += argv[i].len + 1;
    }
    rk_reply_slot *sl = NULL;
    if (!reply_discarded(c)) {
        sl = slot_append(c, 0);
        if (!sl) { free(req); return -1; }
    }
    req->m.type = MSG_REQ;
    req->client = c;
    req->slot = sl;
    req->cmd = cmd;
    req->home = c->home->id;
    req->dbid = c->db;
    req->resp = c->resp;
    req->argc = argc;
    req->client_flags = c->flags;
    req->client_id = c->id;
    c->inflight++;
    c->last_cmd = cmd;
    c->home->stats.remote_requests++;
    shard_send(target, &req->m);
    return 0;
}

static void check_output_limits(rk_client *c);
static void process_input(rk_client *c);

void client_handle_reply(rk_req *req) {
    rk_client *c = req->client;
    assert(c->inflight > 0);
    c->inflight--;
    if (req->slot) {
        rk_buf_free(&req->slot->data);
        req->slot->data = req->reply; /* moves ownership of the bytes */
        req->slot->done = 1;
    } else {
        rk_buf_free(&req->reply);
    }
    if (req->cmd->flags & CMD_BLOCKING) {
        c->flags &= ~CLIENT_WAIT_BLOCKING;
        if (!(c->flags & CLIENT_CONN_GONE)) {
            if (req->blocked) {
                if (c->blocked) blocking_rerun_finished(c, 1);
                else client_block_from(c, req->cmd, req->argc, req->block_argv ? req->block_argv : req->argv,
                                       req->block_timeout);
            } else if (c->blocked) {
                blocking_rerun_finished(c, 0);
            }
        }
    }
    free(req->block_argv);
    free(req);
    if (c->flags & CLIENT_CONN_GONE) { client_maybe_free(c); return; }
    size_t before = out_len(c);
    slots_flush(c);
    count_output(c, before);
    check_output_limits(c);
    /* A stalled pipeline (inflight bound or a barrier) may continue now. */
    if (c->qbuf.len && !(c->flags & CLIENT_PROCESSING) &&
        (c->inflight == 0 || c->inflight == CLIENT_MAX_INFLIGHT - 1))
        process_input(c);
}

struct rk_txn *client_exec_txn(rk_client *c) { return c->exec_txn; }

/* Called by txn.c when a transaction coordinated for this client ends. */
void client_txn_done(rk_client *c, rk_buf *reply) {
    if (c->exec_txn) {
        /* A whole-server command inside EXEC: its reply is an array element. */
        struct rk_txn *t = c->exec_txn;
        rk_buf_append(&t->reply, reply->data, reply->len);
        assert(c->exec_pending > 0);
        if (--c->exec_pending == 0 && c->exec_waiting) {
            c->exec_waiting = 0;
            c->exec_txn = NULL;
            multi_exec_resume(t);
        }
        return;
    }
    c->flags &= ~CLIENT_IN_TXN;
    assert(c->inflight > 0);
    c->inflight--;
    rk_reply_slot *sl = c->slots_head;
    /* The transaction's slot is the last pending one: it started with nothing in flight. */
    while (sl && sl->done) sl = sl->next;
    if (sl && !reply_discarded(c)) {
        rk_buf_free(&sl->data);
        sl->data = *reply;
        rk_buf_init(reply);
        sl->done = 1;
    }
    if (c->flags & CLIENT_CONN_GONE) { client_maybe_free(c); return; }
    /* A transaction finished without hops returns inside process_input,
     * whose loop goes on by itself. */
    if (c->flags & CLIENT_PROCESSING) return;
    size_t before = out_len(c);
    slots_flush(c);
    count_output(c, before);
    check_output_limits(c);
    if (c->qbuf.len) process_input(c);
}

/* Called by txn_new: reserve the ordered slot for a transaction's reply. */
int client_txn_begin(rk_client *c) {
    if (c->exec_txn) {
        c->exec_pending++;
        return 0;
    }
    if (!reply_discarded(c) && !slot_append(c, 0)) return -1;
    c->flags |= CLIENT_IN_TXN;
    c->inflight++;
    return 0;
}

/* ---- Dispatch --------------------------------------------------------- */

enum { DISPATCH_DONE, DISPATCH_STALL, DISPATCH_STOP };

static void reply_error_now(rk_client *c, const char *msg) {
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_error(&r, msg);
    shard_count_error(c->home, msg);
}

static void reply_unknown_command(rk_client *c, int argc, const rk_slice *argv) {
    rk_buf b;
    rk_buf_init(&b);
    rk_buf_printf(&b, "ERR unknown command '%.*s', with args beginning with: ",
                  (int)(argv[0].len > 128 ? 128 : argv[0].len), argv[0].ptr);
    for (int i = 1; i < argc && b.len < 256; i++)
        rk_buf_printf(&b, "'%.*s' ", (int)(argv[i].len > 128 ? 128 : argv[i].len), argv[i].ptr);
    if (rk_buf_append(&b, "", 1) == 0) {
        /* Redis strips newlines from error messages so the protocol stays intact. */
        for (size_t i = 0; i + 1 < b.len; i++)
            if (b.data[i] == '\r' || b.data[i] == '\n') b.data[i] = ' ';
        reply_error_now(c, b.data);
    }
    rk_buf_free(&b);
}

/* Redis 7.0's replication refusals (processCommand: NOREPLICAS, READONLY,
 * then MASTERDOWN), from what the replication thread last told this shard.
 * EXEC is judged by the commands it queued. NULL when the command may run. */
static const char *repl_refusal(rk_client *c, const rk_command *cmd) {
    const rk_shard *s = c->home;
    const rk_repl_view *v = &s->repl_view;
    uint32_t has = cmd->flags, lacks = ~cmd->flags;
    if (multi_active(c) && strcmp(cmd->name, "exec") == 0) {
        uint32_t qhas, qlacks;
        multi_queued_flags(c, &qhas, &qlacks);
        has |= qhas;
        lacks |= qlacks;
    }
    if ((has & CMD_WRITE) && !v->is_replica && s->cfg.min_replicas_to_write > 0 &&
        s->cfg.min_replicas_max_lag > 0 && v->good_replicas < s->cfg.min_replicas_to_write)
        return "NOREPLICAS Not enough good replicas to write.";
    if ((has & CMD_WRITE) && v->is_replica && s->cfg.replica_read_only)
        return "READONLY You can't write against a read only replica.";
    if (v->is_replica && !v->link_up && !s->cfg.replica_serve_stale_data && (lacks & CMD_STALE))
        return "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    return NULL;
}

static int cmd_is_paused_for(const rk_shard *s, const rk_command *cmd, int64_t now) {
    if (s->client_pause_end_ms <= now) return 0;
    if (!s->client_pause_write_only) return 1;
    return (cmd->flags & CMD_WRITE) != 0;
}

/* Decides where one parsed command runs, and runs or sends it. */
static int dispatch(rk_client *c, int argc, rk_slice *argv) {
    rk_shard *s = c->home;
    const rk_command *cmd = cmd_lookup(argv[0]);
    if (!cmd) {
        multi_flag_error(c);
        reply_unknown_command(c, argc, argv);
        return DISPATCH_DONE;
    }
    if (cmd->subcommands) {
        if (argc < 2) {
            /* A container with a proc of its own (bare COMMAND) runs it. */
            if (cmd_check_arity(cmd, argc, &(rk_reply){client_reply_buf(c), c->resp}, argv) != 0)
                shard_count_error(s, "ERR");
            else if (cmd->proc)
                exec_local(c, cmd, argc, argv);
            return DISPATCH_DONE;
        }
        const rk_command *sub = cmd_lookup_sub(cmd, argv[1]);
        if (!sub) {
            char msg[256];
            char upper[32];
            size_t n = strlen(cmd->name);
            for (size_t i = 0; i < n && i < sizeof(upper) - 1; i++)
                upper[i] = (char)(cmd->name[i] >= 'a' && cmd->name[i] <= 'z' ? cmd->name[i] - 32 : cmd->name[i]);
            upper[n < sizeof(upper) - 1 ? n : sizeof(upper) - 1] = '\0';
            snprintf(msg, sizeof(msg), "ERR unknown subcommand '%.*s'. Try %s HELP.",
                     (int)(argv[1].len > 128 ? 128 : argv[1].len), argv[1].ptr, upper);
            for (char *p = msg; *p; p++) if (*p == '\r' || *p == '\n') *p = ' ';
            multi_flag_error(c);
            reply_error_now(c, msg);
            return DISPATCH_DONE;
        }
        cmd = sub;
    }
    if (cmd_check_arity(cmd, argc, &(rk_reply){client_reply_buf(c), c->resp}, argv) != 0) {
        s->cmdstats[cmd->id].rejected_calls++;
        shard_count_error(s, "ERR");
        multi_flag_error(c);
        return DISPATCH_DONE;
    }
    if (!(c->flags & CLIENT_AUTHENTICATED) && !(cmd->flags & CMD_NO_AUTH)) {
        s->cmdstats[cmd->id].rejected_calls++;
        multi_flag_error(c);
        reply_error_now(c, "NOAUTH Authentication required.");
        return DISPATCH_DONE;
    }
    /* What a master sends its replica is applied whatever the replica's
     * own state (Redis's mustObeyClient). */
    const int obey = (c->flags & CLIENT_MASTER) != 0;
    /* Redis's order: MISCONF, then LOADING (processCommand). */
    if (!obey && s->last_save_failed && s->cfg.stop_writes_on_bgsave_error && s->cfg.n_save_params > 0 &&
        ((cmd->flags & CMD_WRITE) || rk_slice_eq_nocase(argv[0], "ping"))) {
        s->cmdstats[cmd->id].rejected_calls++;
        multi_flag_error(c);
        reply_error_now(c, "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
                           "persist to disk. Commands that may modify the data set are disabled, because this "
                           "instance is configured to report errors during writes if RDB snapshotting fails "
                           "(stop-writes-on-bgsave-error option). Please check the Redis logs for details about "
                           "the RDB error.");
        return DISPATCH_DONE;
    }
    /* Then the AOF (Redis's writeCommandsDeniedByDiskError): process-wide,
     * since a write routed to any shard may need the failing one's file. */
    char aof_err[160];
    if (!obey && s->aofw && ((cmd->flags & CMD_WRITE) || rk_slice_eq_nocase(argv[0], "ping")) &&
        aof_writer_refuses_writes(s, aof_err, sizeof(aof_err))) {
        s->cmdstats[cmd->id].rejected_calls++;
        multi_flag_error(c);
        reply_error_now(c, aof_err);
        return DISPATCH_DONE;
    }
    if (!obey) {
        const char *refusal = repl_refusal(c, cmd);
        if (refusal) {
            s->cmdstats[cmd->id].rejected_calls++;
            if (multi_active(c) && strcmp(cmd->name, "exec") == 0) {
                multi_exec_abort(c, refusal);
            } else {
                multi_flag_error(c);
                reply_error_now(c, refusal);
            }
            return DISPATCH_DONE;
        }
    }
    if (s->loading.active && !(cmd->flags & CMD_LOADING)) {
        s->cmdstats[cmd->id].rejected_calls++;
        multi_flag_error(c);
        reply_error_now(c, "LOADING Redis is loading the dataset in memory");
        return DISPATCH_DONE;
    }
    if (c->multi && multi_intercept(c, cmd, argc, argv)) return DISPATCH_DONE;
    c->last_cmd = cmd;
    if ((c->nsubs | c->npsubs | c->nssubs) && c->resp == 2) {
        rk_reply r = {client_reply_buf(c), c->resp};
        if (pubsub_check_allowed(c, cmd, &r) != 0) {
            shard_count_error(s, "ERR");
            return DISPATCH_DONE;
        }
    }
    if (s->client_pause_end_ms && !obey && cmd_is_paused_for(s, cmd, rk_mstime())) return DISPATCH_STALL;

    if (cmd->exec == EXEC_CONN) { exec_local(c, cmd, argc, argv); return DISPATCH_DONE; }
    if (cmd->exec == EXEC_ALL) {
        if (c->inflight) return DISPATCH_STALL; /* barrier: earlier replies first */
        /* Whole-server commands count where they are coordinated. */
        s->cmdstats[cmd->id].calls++;
        s->stats.total_commands_processed++;
        c->last_cmd = cmd;
        cmd->coord(c, cmd, argc, argv);
        return (c->flags & CLIENT_IN_TXN) ? DISPATCH_STOP : DISPATCH_DONE;
    }

    int posbuf[256];
    int *pos = posbuf;
    int maxkeys = argc < 256 ? 256 : argc;
    if (maxkeys > 256) {
        pos = malloc(sizeof(int) * (size_t)maxkeys);
        if (!pos) { reply_error_now(c, "ERR out of memory"); return DISPATCH_DONE; }
    }
    int nkeys = cmd_get_keys(cmd, argc, argv, pos, maxkeys);
    uint64_t mask = 0;
    for (int i = 0; i < nkeys; i++) mask |= 1ull << rk_key_shard(argv[pos[i]].ptr, argv[pos[i]].len);
    int result = DISPATCH_DONE;
    if (mask == 0 || mask == (1ull << s->id)) {
        exec_local(c, cmd, argc, argv);
    } else if ((mask & (mask - 1)) == 0) {
        if (c->inflight >= CLIENT_MAX_INFLIGHT) result = DISPATCH_STALL;
        else if (send_remote(c, cmd, argc, argv, __builtin_ctzll(mask)) != 0)
            reply_error_now(c, "ERR out of memory");
        else if (cmd->flags & CMD_BLOCKING) {
            /* Whether it blocks is known only when it comes back: input waits. */
            c->flags |= CLIENT_WAIT_BLOCKING;
            result = DISPATCH_STOP;
        }
    } else if (!multikey_args_complete(cmd, argc, pos, nkeys)) {
        exec_local(c, cmd, argc, argv); /* e.g. MSET a 1 b: the proc answers the arity error */
    } else if (c->inflight) {
        result = DISPATCH_STALL; /* barrier: a multi-shard command starts with nothing in flight */
    } else {
        multikey_run(c, cmd, argc, argv, mask, pos, nkeys);
        if (c->flags & CLIENT_IN_TXN) result = DISPATCH_STOP;
    }
    if (pos != posbuf) free(pos);
    return result;
}

/* A master client dispatched the command in p[0, n): its bytes go to the
 * replication hook, those of a MULTI block all at once when it closes (as
 * Redis's master client advances its offset only outside MULTI). */
static void master_applied(rk_client *c, const char *p, size_t n) {
    rk_shard *s = c->home;
    if (!g_shard_plugins.repl_master_applied) return;
    if (multi_active(c) || c->master_pending.len) {
        if (rk_buf_append(&c->master_pending, p, n) != 0) {
            /* The offsets would no longer add up: drop the link (the
             * replica reconnects and continues from what it applied). */
            rk_log(LL_WARNING, "Out of memory keeping the master's MULTI block: closing the master link");
            client_kill(c);
            return;
        }
        if (multi_active(c)) return;
        g_shard_plugins.repl_master_applied(s, c->master_pending.data, c->master_pending.len);
        rk_buf_clear(&c->master_pending);
        rk_buf_shrink(&c->master_pending, 0);
        return;
    }
    g_shard_plugins.repl_master_applied(s, p, n);
}

static void try_detach(rk_client *c);

/* Parses and dispatches as many commands as possible from the query buffer. */
static void process_input(rk_client *c) {
    rk_shard *s = c->home;
    size_t qpos = 0;
    assert(!(c->flags & CLIENT_PROCESSING));
    c->flags |= CLIENT_PROCESSING;
    size_t out_before = out_len(c);
    while (c->conn && !(c->flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSE_ASAP | CLIENT_IN_TXN |
                                    CLIENT_BLOCKED | CLIENT_WAIT_BLOCKING | CLIENT_DETACHING))) {
        if (txn_shard_paused(s)) { txn_stall_client(s, c); break; }
        /* A pause waits for an open MULTI block to end (client_idle). */
        if ((c->flags & CLIENT_INPUT_PAUSED) && !multi_active(c)) {
            rk_conn_pause_read(c->conn, 1);
            break;
        }
        size_t consumed = 0, hint = 0;
        const char *err = NULL;
        c->parser.unauthenticated = !(c->flags & CLIENT_AUTHENTICATED);
        int rc = resp_parse_command(&c->parser, c->qbuf.data + qpos, c->qbuf.len - qpos, &c->args,
                                    &consumed, &hint, &err);
        if (rc == RESP_NEED_MORE) {
            if (hint > c->qbuf.len - qpos && hint - (c->qbuf.len - qpos) < (size_t)1 << 30)
                rk_buf_reserve(&c->qbuf, hint - (c->qbuf.len - qpos));
            break;
        }
        if (rc == RESP_ERROR) {
            char msg[160];
            snprintf(msg, sizeof(msg), "ERR %s", err);
            /* Redis logs its master's protocol errors as warnings: the link
             * is dropped and the replica resyncs. */
            rk_log((c->flags & CLIENT_MASTER) ? LL_WARNING : LL_VERBOSE,
                   "Protocol error (%s) from client: id=%llu addr=%s", err, (unsigned long long)c->id, c->peer);
            reply_error_now(c, msg);
            slots_flush(c);
            client_close_after_reply(c);
            qpos = c->qbuf.len;
            break;
        }
        if (rc == RESP_EMPTY) {
            /* A master's empty lines count in the offset too. */
            if (c->flags & CLIENT_MASTER) master_applied(c, c->qbuf.data + qpos, consumed);
            qpos += consumed;
            continue;
        }
        c->tot_cmds++;
        int d = dispatch(c, (int)c->args.argc, c->args.argv);
        if (d == DISPATCH_STALL) {
            /* Re-parse later from the same bytes: they stay in the buffer. */
            resp_parser_init(&c->parser, s->cfg.proto_max_bulk_len);
            break;
        }
        if (c->flags & CLIENT_MASTER) master_applied(c, c->qbuf.data + qpos, consumed);
        qpos += consumed;
        if (c->flags & CLIENT_REPLY_SKIP) c->flags &= ~CLIENT_REPLY_SKIP;
        if (c->flags & CLIENT_REPLY_SKIP_NEXT) {
            c->flags &= ~CLIENT_REPLY_SKIP_NEXT;
            c->flags |= CLIENT_REPLY_SKIP;
        }
        if (d == DISPATCH_STOP) break;
    }
    c->flags &= ~CLIENT_PROCESSING;
    if (qpos) rk_buf_consume(&c->qbuf, qpos);
    if (c->qbuf.len == 0) rk_buf_shrink(&c->qbuf, 16 * 1024);
    slots_flush(c);
    count_output(c, out_before);
    if (c->conn && (c->flags & CLIENT_CLOSE_AFTER_REPLY) && !c->slots_head) rk_conn_close(c->conn, 1);
    check_output_limits(c);
    if (c->flags & CLIENT_DETACHING) try_detach(c);
}

void client_resume(rk_client *c) {
    if (c->conn && c->qbuf.len && !(c->flags & CLIENT_PROCESSING)) process_input(c);
}

void client_rerun(rk_client *c, int argc, rk_slice *argv) {
    int d = dispatch(c, argc, argv);
    /* Held back (CLIENT PAUSE, a barrier): it stays blocked and is signalled again. */
    if (d == DISPATCH_STALL) blocking_rerun_finished(c, 1);
    slots_flush(c);
    check_output_limits(c);
}

void client_on_data(void *ud, const char *data, size_t len) {
    rk_client *c = ud;
    rk_shard *s = c->home;
    s->stats.net_input_bytes += len;
    c->tot_net_in += len;
    if (c->flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSE_ASAP)) return;
    if (rk_buf_append(&c->qbuf, data, len) != 0) { client_kill(c); return; }
    if (c->qbuf.len > c->qbuf_peak) c->qbuf_peak = c->qbuf.len;
    c->last_interaction_ms = rk_mstime();
    if ((long long)c->qbuf.len > s->cfg.client_query_buffer_limit && !(c->flags & CLIENT_MASTER)) {
        rk_log(LL_WARNING, "Closing client that reached max query buffer length: id=%llu addr=%s qbuf=%zu",
               (unsigned long long)c->id, c->peer, c->qbuf.len);
        s->stats.client_qbuf_limit_disconnections++;
        client_kill(c);
        return;
    }
    process_input(c);
}

/* ---- Limits and housekeeping ---------------------------------------- */

static int client_class(const rk_client *c) {
    return (c->flags & CLIENT_PUBSUB) ? CLIENT_CLASS_PUBSUB : CLIENT_CLASS_NORMAL;
}

void client_check_output_limits(rk_client *c) { check_output_limits(c); }

static void check_output_limits(rk_client *c) {
    /* Only ACKs go to a master: it has no output limit (Redis). */
    if (!c->conn || (c->flags & CLIENT_MASTER)) return;
    rk_shard *s = c->home;
    const rk_obuf_limit *lim = &s->cfg.obuf_limits[client_class(c)];
    size_t used = rk_conn_unsent(c->conn);
    for (rk_reply_slot *sl = c->slots_head; sl; sl = sl->next) used += sl->data.len;
    int over_hard = lim->hard_bytes > 0 && (long long)used >= lim->hard_bytes;
    int over_soft = 0;
    if (lim->soft_bytes > 0 && (long long)used >= lim->soft_bytes) {
        int64_t now = rk_mstime();
        if (c->obuf_soft_since_ms == 0) c->obuf_soft_since_ms = now;
        else if (now - c->obuf_soft_since_ms >= lim->soft_seconds * 1000) over_soft = 1;
    } else {
        c->obuf_soft_since_ms = 0;
    }
    if (over_hard || over_soft) {
        rk_log(LL_WARNING,
               "Client id=%llu addr=%s scheduled to be closed ASAP for overcoming of output buffer limits.",
               (unsigned long long)c->id, c->peer);
        s->stats.client_outbuf_limit_disconnections++;
        client_kill(c);
    }
}

void clients_cron(rk_shard *s) {
    blocking_cron(s);
    int64_t now = rk_mstime();
    rk_client *next;
    for (rk_client *c = s->clients; c; c = next) {
        next = c->next;
        if (s->cfg.timeout > 0 && c->inflight == 0 && !(c->flags & (CLIENT_PUBSUB | CLIENT_MASTER)) &&
            now - c->last_interaction_ms > s->cfg.timeout * 1000) {
            rk_log(LL_VERBOSE, "Closing idle client id=%llu", (unsigned long long)c->id);
            client_kill(c);
            continue;
        }
        check_output_limits(c);
        /* A CLIENT PAUSE that ended lets stalled clients go on. */
        if (c->qbuf.len && !(c->flags & CLIENT_IN_TXN) && c->inflight == 0 && s->client_pause_end_ms &&
            s->client_pause_end_ms <= now)
            process_input(c);
    }
    if (s->client_pause_end_ms && s->client_pause_end_ms <= now) s->client_pause_end_ms = 0;
}

/* ---- CLIENT LIST line --------------------------------------------------- */

void client_info_line(const rk_client *c, rk_buf *out) {
    int64_t now = rk_mstime();
    char flags[16];
    int nf = 0;
    if (c->flags & CLIENT_CLOSE_ASAP) flags[nf++] = 'A';
    if (c->flags & CLIENT_MASTER) flags[nf++] = 'M';
    if (c->flags & CLIENT_CLOSE_AFTER_REPLY) flags[nf++] = 'c';
    if (c->flags & CLIENT_PUBSUB) flags[nf++] = 'P';
    if (c->flags & CLIENT_NO_EVICT) flags[nf++] = 'e';
    if (c->flags & CLIENT_BLOCKED) flags[nf++] = 'b';
    if (multi_active(c)) flags[nf++] = 'x';
    if (nf == 0) flags[nf++] = 'N';
    flags[nf] = '\0';
    size_t omem = c->conn ? rk_conn_unsent(c->conn) : 0;
    const char *cmdname = c->last_cmd ? c->last_cmd->name : "NULL";
    rk_buf_printf(out,
                  "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=%d sub=%u psub=%u "
                  "ssub=%u multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=%zu obl=0 "
                  "oll=0 omem=%zu tot-mem=%zu events=r cmd=%s user=default redir=-1 resp=%d\n",
                  (unsigned long long)c->id, c->peer, c->local, c->conn ? rk_conn_fd(c->conn) : -1,
                  c->name ? c->name : "", (long long)((now - c->ctime_ms) / 1000),
                  (long long)((now - c->last_interaction_ms) / 1000), flags, c->db, c->nsubs, c->npsubs,
                  c->nssubs, multi_queued(c), c->qbuf.len,
                  c->qbuf.cap - c->qbuf.len, c->qbuf.cap, (size_t)c->qbuf_peak, omem,
                  sizeof(*c) + c->qbuf.cap + omem, cmdname, c->resp);
}

/* ---- Replication: handing a replica's socket over, the master client ---- */

/* Clients of this shard waiting to detach (client_detach_socket): a few at
 * a time, one per replica in its handshake. */
static __thread rk_client *t_detaching;

static void detach_list_remove(rk_client *c) {
    for (rk_client **p = &t_detaching; *p; p = &(*p)->detach_next)
        if (*p == c) {
            *p = c->detach_next;
            c->detach_next = NULL;
            return;
        }
}

/* Detaches c's socket if nothing of it is pending any more. */
static void try_detach(rk_client *c) {
    if (!c->detach_fn || !c->conn || (c->flags & (CLIENT_PROCESSING | CLIENT_IN_TXN)) || c->inflight ||
        c->slots_head || rk_conn_unsent(c->conn) > 0)
        return;
    client_detach_fn *fn = c->detach_fn;
    void *ud = c->detach_ud;
    detach_list_remove(c);
    c->detach_fn = NULL;
    c->detach_ud = NULL;
    int fd = rk_conn_take_fd(c->conn);
    if (fd < 0) {
        rk_log(LL_WARNING, "Could not hand the connection of client id=%llu addr=%s over: %s",
               (unsigned long long)c->id, c->peer, strerror(errno));
        fn(c, -1, NULL, ud);
        client_kill(c);
        return;
    }
    /* The loop still owes on_close for the old conn; until then nothing may
     * touch it: the client counts as gone from here on. */
    c->conn = NULL;
    c->flags |= CLIENT_CLOSE_ASAP;
    rk_buf surplus = c->qbuf;
    rk_buf_init(&c->qbuf);
    fn(c, fd, &surplus, ud);
    rk_buf_free(&surplus);
}

int client_detach_socket(rk_client *c, client_detach_fn *fn, void *ud) {
    assert(fn);
    if (c->detach_fn || !c->conn) return -1;
    c->flags |= CLIENT_DETACHING;
    c->detach_fn = fn;
    c->detach_ud = ud;
    c->detach_next = t_detaching;
    t_detaching = c;
    /* Never from here: the command running now is still in the query
     * buffer; process_input tries once it consumed it. */
    return 0;
}

void clients_before_wait(rk_shard *s) {
    repl_view_seed(s); /* early, for the shard's own crons too (no active expiry on a replica) */
    rk_client *next;
    for (rk_client *c = t_detaching; c; c = next) {
        next = c->detach_next;
        try_detach(c);
    }
}

rk_client *client_adopt_master(rk_shard *s, int fd, int dbid, const char *surplus, size_t n) {
    rk_client *c = calloc(1, sizeof(*c));
    if (!c) { errno = ENOMEM; return NULL; }
    c->id = client_next_id();
    c->db = dbid;
    c->home = s;
    c->resp = 2;
    c->ctime_ms = c->last_interaction_ms = rk_mstime();
    c->flags = CLIENT_AUTHENTICATED | CLIENT_MASTER;
    resp_parser_init(&c->parser, s->cfg.proto_max_bulk_len);
    if (n && rk_buf_append(&c->qbuf, surplus, n) != 0) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    rk_conn *conn = rk_loop_adopt(s->loop, fd, c);
    if (!conn) {
        int e = errno;
        rk_buf_free(&c->qbuf);
        free(c);
        errno = e;
        return NULL;
    }
    c->conn = conn;
    snprintf(c->peer, sizeof(c->peer), "%s", rk_conn_peer(conn));
    snprintf(c->local, sizeof(c->local), "%s", rk_conn_local(conn));
    c->next = s->clients;
    if (s->clients) s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    atomic_fetch_add_explicit(&g_connected_clients, 1, memory_order_relaxed);
    if (c->qbuf.len && !(c->flags & CLIENT_PROCESSING)) process_input(c);
    return c;
}

int client_master_write(rk_client *c, const char *p, size_t n) {
    assert(c->flags & CLIENT_MASTER);
    if (!c->conn) return -1;
    size_t before = out_len(c);
    if (rk_buf_append(rk_conn_out(c->conn), p, n) != 0) {
        client_kill(c);
        return -1;
    }
    count_output(c, before);
    return 0;
}

void client_set_input_paused(rk_client *c, int on) {
    if (on) {
        c->flags |= CLIENT_INPUT_PAUSED;
        /* Reading stops now unless a MULTI block must be read to its end
         * (process_input stops it then). */
        if (c->conn && !multi_active(c)) rk_conn_pause_read(c->conn, 1);
        return;
    }
    c->flags &= ~CLIENT_INPUT_PAUSED;
    if (!c->conn) return;
    rk_conn_pause_read(c->conn, 0);
    if (c->qbuf.len && !(c->flags & CLIENT_PROCESSING)) process_input(c);
}

int client_idle(const rk_client *c) {
    return c->inflight == 0 && !(c->flags & (CLIENT_IN_TXN | CLIENT_BLOCKED | CLIENT_WAIT_BLOCKING)) &&
           !multi_active(c);
}
