/* conn_cmds.c: commands about the connection itself: SELECT, AUTH, HELLO,
 * QUIT, RESET and CLIENT (SHUTDOWN lives with saving, storage/persist.c).
 *
 * Thread: the client's home shard (EXEC_CONN), except the CLIENT
 * subcommands that reach every shard's clients (LIST, KILL, PAUSE,
 * UNPAUSE), which are EXEC_ALL coordinators whose hops read or change only
 * the participant's own clients. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/client.h"
#include "core/command.h"
#include "core/log.h"
#include "core/multi.h"
#include "core/pubsub.h"
#include "core/shard.h"
#include "core/txn.h"

#define REDIS_VERSION "7.0.15"

static int slice_eq(rk_slice s, const char *lit) { return rk_slice_eq_nocase(s, lit); }

/* ---- SELECT ------------------------------------------------------------ */

static void select_cmd(rk_ctx *c) {
    long long id;
    if (!rk_str2ll(c->argv[1].ptr, c->argv[1].len, &id)) {
        ctx_error(c, "ERR value is not an integer or out of range");
        return;
    }
    if (id < 0 || id >= c->shard->cfg.databases) {
        ctx_error(c, "ERR DB index is out of range");
        return;
    }
    c->client->db = (int)id;
    reply_ok(&c->r);
}

/* ---- AUTH / HELLO --------------------------------------------------------- */

/* 1 if the credentials are right; replies the Redis error otherwise. */
static int check_auth(rk_ctx *c, rk_slice user, rk_slice pass) {
    const char *required = c->shard->cfg.requirepass;
    if (!slice_eq(user, "default") || !required || strlen(required) != pass.len ||
        memcmp(required, pass.ptr, pass.len) != 0) {
        ctx_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
        return 0;
    }
    return 1;
}

static void auth_cmd(rk_ctx *c) {
    if (c->argc > 3) { ctx_syntax_error(c); return; }
    if (c->argc == 2 && !c->shard->cfg.requirepass) {
        ctx_error(c, "ERR AUTH <password> called without any password configured for the default user. "
                     "Are you sure your configuration is correct?");
        return;
    }
    rk_slice user = c->argc == 3 ? c->argv[1] : RK_SLICE("default");
    rk_slice pass = c->argv[c->argc - 1];
    if (!c->shard->cfg.requirepass) {
        /* With no password the default user is "nopass": any password works. */
        if (!slice_eq(user, "default")) {
            ctx_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }
        c->client->flags |= CLIENT_AUTHENTICATED;
        reply_ok(&c->r);
        return;
    }
    if (!check_auth(c, user, pass)) return;
    c->client->flags |= CLIENT_AUTHENTICATED;
    reply_ok(&c->r);
}

static int valid_client_name(rk_slice name) {
    for (size_t i = 0; i < name.len; i++)
        if (name.ptr[i] < '!' || name.ptr[i] > '~') return 0;
    return 1;
}

static int set_client_name(rk_client *cl, rk_slice name) {
    char *copy = NULL;
    if (name.len) {
        copy = malloc(name.len + 1);
        if (!copy) return -1;
        memcpy(copy, name.ptr, name.len);
        copy[name.len] = '\0';
    }
    free(cl->name);
    cl->name = copy;
    return 0;
}

static void hello_cmd(rk_ctx *c) {
    rk_client *cl = c->client;
    int ver = cl->resp;
    int i = 1;
    if (c->argc >= 2) {
        long long v;
        if (!rk_str2ll(c->argv[1].ptr, c->argv[1].len, &v)) {
            ctx_error(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (v < 2 || v > 3) { ctx_error(c, "NOPROTO unsupported protocol version"); return; }
        ver = (int)v;
        i = 2;
    }
    rk_slice setname = {NULL, 0};
    int want_setname = 0;
    for (; i < c->argc; i++) {
        int more = c->argc - i - 1;
        if (slice_eq(c->argv[i], "AUTH") && more >= 2) {
            if (c->shard->cfg.requirepass) {
                if (!check_auth(c, c->argv[i + 1], c->argv[i + 2])) return;
            } else if (!slice_eq(c->argv[i + 1], "default")) {
                ctx_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            cl->flags |= CLIENT_AUTHENTICATED;
            i += 2;
        } else if (slice_eq(c->argv[i], "SETNAME") && more >= 1) {
            setname = c->argv[i + 1];
            if (!valid_client_name(setname)) {
                ctx_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
                return;
            }
            want_setname = 1;
            i += 1;
        } else {
            ctx_errorf(c, "ERR Syntax error in HELLO option '%.*s'", (int)c->argv[i].len, c->argv[i].ptr);
            return;
        }
    }
    if (!(cl->flags & CLIENT_AUTHENTICATED)) {
        ctx_error(c, "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                     "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                     "select the RESP protocol version at the same time");
        return;
    }
    if (want_setname && set_client_name(cl, setname) != 0) { ctx_oom(c); return; }
    cl->resp = ver;
    c->r.resp = ver;
    c->resp = ver;
    reply_map(&c->r, 7);
    reply_bulk_str(&c->r, "server");
    reply_bulk_str(&c->r, "redis");
    reply_bulk_str(&c->r, "version");
    reply_bulk_str(&c->r, REDIS_VERSION);
    reply_bulk_str(&c->r, "proto");
    reply_int(&c->r, ver);
    reply_bulk_str(&c->r, "id");
    reply_int(&c->r, (int64_t)cl->id);
    reply_bulk_str(&c->r, "mode");
    reply_bulk_str(&c->r, "standalone");
    reply_bulk_str(&c->r, "role");
    reply_bulk_str(&c->r, c->shard->repl_view.is_replica ? "replica" : "master");
    reply_bulk_str(&c->r, "modules");
    reply_array(&c->r, 0);
}

/* ---- QUIT / RESET ---------------------------------------------------------- */

static void quit_cmd(rk_ctx *c) {
    reply_ok(&c->r);
    client_close_after_reply(c->client);
}

static void reset_cmd(rk_ctx *c) {
    rk_client *cl = c->client;
    cl->db = 0;
    cl->resp = 2;
    c->r.resp = 2;
    cl->flags &= ~(CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP | CLIENT_REPLY_SKIP_NEXT | CLIENT_NO_EVICT |
                   CLIENT_NO_TOUCH);
    if (c->shard->cfg.requirepass) cl->flags &= ~CLIENT_AUTHENTICATED;
    set_client_name(cl, (rk_slice){NULL, 0});
    multi_client_reset(cl);
    pubsub_client_reset(cl);
    reply_simple(&c->r, "RESET");
}

/* ---- CLIENT ------------------------------------------------------------------ */

static void client_id_cmd(rk_ctx *c) { reply_int(&c->r, (int64_t)c->client->id); }

static void client_setname_cmd(rk_ctx *c) {
    if (!valid_client_name(c->argv[2])) {
        ctx_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
        return;
    }
    if (set_client_name(c->client, c->argv[2]) != 0) { ctx_oom(c); return; }
    reply_ok(&c->r);
}

static void client_getname_cmd(rk_ctx *c) {
    if (c->client->name) reply_bulk_str(&c->r, c->client->name);
    else reply_null(&c->r);
}

static void client_info_cmd(rk_ctx *c) {
    rk_buf line;
    rk_buf_init(&line);
    client_info_line(c->client, &line);
    reply_verbatim(&c->r, line.data, line.len, "txt");
    rk_buf_free(&line);
}

static void client_onoff(rk_ctx *c, uint32_t flag) {
    if (slice_eq(c->argv[2], "on")) c->client->flags |= flag;
    else if (slice_eq(c->argv[2], "off")) c->client->flags &= ~flag;
    else { ctx_syntax_error(c); return; }
    reply_ok(&c->r);
}

static void client_no_evict_cmd(rk_ctx *c) { client_onoff(c, CLIENT_NO_EVICT); }

static void client_reply_cmd(rk_ctx *c) {
    rk_client *cl = c->client;
    if (slice_eq(c->argv[2], "on")) {
        cl->flags &= ~(CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP_NEXT | CLIENT_REPLY_SKIP);
        /* The reply target was chosen while replies were off. */
        c->r.out = client_reply_buf(cl);
        reply_ok(&c->r);
    } else if (slice_eq(c->argv[2], "off")) {
        cl->flags |= CLIENT_REPLY_OFF;
    } else if (slice_eq(c->argv[2], "skip")) {
        if (!(cl->flags & CLIENT_REPLY_OFF)) cl->flags |= CLIENT_REPLY_SKIP_NEXT;
    } else {
        ctx_syntax_error(c);
    }
}

/* TYPE master: a replica's master client (replicas themselves live on the
 * replication thread, so TYPE replica matches none here). */
#define FILTER_TYPE_MASTER CLIENT_CLASS_COUNT

/* CLIENT LIST / KILL filters, parsed once on the coordinator. */
typedef struct client_filter {
    int type;              /* -1 any, else CLIENT_CLASS_* (normal, pubsub) or FILTER_TYPE_MASTER */
    int match_none;
    uint64_t *ids;
    int nids;
    const char *addr, *laddr, *user;
    int skipme;            /* KILL: default yes */
    uint64_t me;
    int legacy;            /* CLIENT KILL ip:port */
} client_filter;

static void filter_free(void *p) {
    client_filter *f = p;
    free(f->ids);
    free(f);
}

static int filter_matches(const client_filter *f, const rk_client *cl) {
    if (f->match_none) return 0;
    if (cl->flags & CLIENT_CONN_GONE) return 0;
    if (f->type >= 0) {
        int cls = (cl->flags & CLIENT_MASTER)   ? FILTER_TYPE_MASTER
                  : (cl->flags & CLIENT_PUBSUB) ? CLIENT_CLASS_PUBSUB
                                                : CLIENT_CLASS_NORMAL;
        if (cls != f->type) return 0;
    }
    if (f->nids) {
        int found = 0;
        for (int i = 0; i < f->nids && !found; i++) found = f->ids[i] == cl->id;
        if (!found) return 0;
    }
    if (f->addr && strcmp(f->addr, cl->peer) != 0) return 0;
    if (f->laddr && strcmp(f->laddr, cl->local) != 0) return 0;
    if (f->user && strcmp(f->user, "default") != 0) return 0;
    if (f->skipme && cl->id == f->me) return 0;
    return 1;
}

static int parse_type(rk_slice s, client_filter *f) {
    if (slice_eq(s, "normal")) f->type = CLIENT_CLASS_NORMAL;
    else if (slice_eq(s, "pubsub")) f->type = CLIENT_CLASS_PUBSUB;
    else if (slice_eq(s, "master")) f->type = FILTER_TYPE_MASTER;
    else if (slice_eq(s, "replica") || slice_eq(s, "slave")) f->match_none = 1;
    else return -1;
    return 0;
}

static void client_list_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    client_filter *f = t->arg;
    for (rk_client *cl = s->clients; cl; cl = cl->next)
        if (filter_matches(f, cl)) client_info_line(cl, out);
}

static void client_list_step(rk_txn *t) {
    rk_buf all;
    rk_buf_init(&all);
    for (int i = 0; i < g_nshards; i++) rk_buf_append(&all, t->out[i].data, t->out[i].len);
    reply_verbatim(&t->r, all.data ? all.data : "", all.len, "txt");
    rk_buf_free(&all);
    txn_finish(t);
}

static void txn_fail(rk_txn *t, const char *msg) {
    reply_error(&t->r, msg);
    shard_count_error(t->coord, msg);
    txn_finish(t);
}

static void client_list_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) { client_kill(c); return; }
    client_filter *f = calloc(1, sizeof(*f));
    if (!f) { txn_fail(t, "ERR out of memory"); return; }
    f->type = -1;
    t->arg = f;
    t->arg_free = filter_free;
    for (int i = 2; i < argc; i++) {
        if (slice_eq(argv[i], "TYPE") && i + 1 < argc) {
            if (parse_type(argv[++i], f) != 0) {
                char msg[128];
                snprintf(msg, sizeof(msg), "ERR Unknown client type '%.*s'", (int)argv[i].len, argv[i].ptr);
                txn_fail(t, msg);
                return;
            }
        } else if (slice_eq(argv[i], "ID") && i + 1 < argc) {
            f->ids = calloc((size_t)(argc - i), sizeof(uint64_t));
            if (!f->ids) { txn_fail(t, "ERR out of memory"); return; }
            for (i++; i < argc; i++) {
                long long id;
                if (!rk_str2ll(argv[i].ptr, argv[i].len, &id) || id <= 0) {
                    txn_fail(t, "ERR Invalid client ID");
                    return;
                }
                f->ids[f->nids++] = (uint64_t)id;
            }
        } else {
            txn_fail(t, "ERR syntax error");
            return;
        }
    }
    txn_start(t, client_list_hop, client_list_step);
}

static void client_kill_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    client_filter *f = t->arg;
    long long killed = 0;
    for (rk_client *cl = s->clients; cl; cl = cl->next) {
        if (!filter_matches(f, cl)) continue;
        /* Killing the caller itself: its reply goes out first, as in Redis. */
        if (t->client && cl == t->client) client_close_after_reply(cl);
        else client_kill(cl);
        killed++;
    }
    rk_buf_append(out, &killed, sizeof(killed));
}

static void client_kill_step(rk_txn *t) {
    client_filter *f = t->arg;
    long long total = 0;
    for (int i = 0; i < g_nshards; i++) {
        long long n = 0;
        if (t->out[i].len == sizeof(n)) memcpy(&n, t->out[i].data, sizeof(n));
        total += n;
    }
    if (f->legacy) {
        if (total == 0) reply_error(&t->r, "ERR No such client");
        else reply_ok(&t->r);
    } else {
        reply_int(&t->r, total);
    }
    txn_finish(t);
}

static char *slice_strdup(rk_slice s) {
    char *p = malloc(s.len + 1);
    if (p) { memcpy(p, s.ptr, s.len); p[s.len] = '\0'; }
    return p;
}

typedef struct kill_filter {
    client_filter f;
    char *addr, *laddr, *user;
} kill_filter;

static void kill_filter_free(void *p) {
    kill_filter *k = p;
    free(k->addr);
    free(k->laddr);
    free(k->user);
    free(k->f.ids);
    free(k);
}

static void client_kill_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) { client_kill(c); return; }
    kill_filter *k = calloc(1, sizeof(*k));
    if (!k) { txn_fail(t, "ERR out of memory"); return; }
    t->arg = k;
    t->arg_free = kill_filter_free;
    client_filter *f = &k->f;
    f->type = -1;
    f->me = c->id;
    if (argc == 3) {
        f->legacy = 1;
        k->addr = slice_strdup(argv[2]);
        if (!k->addr) { txn_fail(t, "ERR out of memory"); return; }
        f->addr = k->addr;
    } else {
        f->skipme = 1;
        if ((argc - 2) % 2 != 0) { txn_fail(t, "ERR syntax error"); return; }
        f->ids = calloc((size_t)argc, sizeof(uint64_t));
        if (!f->ids) { txn_fail(t, "ERR out of memory"); return; }
        for (int i = 2; i + 1 < argc; i += 2) {
            rk_slice opt = argv[i], val = argv[i + 1];
            if (slice_eq(opt, "ID")) {
                long long id;
                if (!rk_str2ll(val.ptr, val.len, &id) || id <= 0) {
                    txn_fail(t, "ERR client-id should be greater than 0");
                    return;
                }
                f->ids[f->nids++] = (uint64_t)id;
            } else if (slice_eq(opt, "TYPE")) {
                if (parse_type(val, f) != 0) {
                    char msg[128];
                    snprintf(msg, sizeof(msg), "ERR Unknown client type '%.*s'", (int)val.len, val.ptr);
                    txn_fail(t, msg);
                    return;
                }
            } else if (slice_eq(opt, "ADDR")) {
                free(k->addr);
                if (!(k->addr = slice_strdup(val))) { txn_fail(t, "ERR out of memory"); return; }
                f->addr = k->addr;
            } else if (slice_eq(opt, "LADDR")) {
                free(k->laddr);
                if (!(k->laddr = slice_strdup(val))) { txn_fail(t, "ERR out of memory"); return; }
                f->laddr = k->laddr;
            } else if (slice_eq(opt, "USER")) {
                free(k->user);
                if (!(k->user = slice_strdup(val))) { txn_fail(t, "ERR out of memory"); return; }
                f->user = k->user;
            } else if (slice_eq(opt, "SKIPME")) {
                if (slice_eq(val, "yes")) f->skipme = 1;
                else if (slice_eq(val, "no")) f->skipme = 0;
                else { txn_fail(t, "ERR syntax error"); return; }
            } else {
                txn_fail(t, "ERR syntax error");
                return;
            }
        }
    }
    txn_start(t, client_kill_hop, client_kill_step);
}

typedef struct pause_arg {
    int64_t end_ms;
    int write_only;
} pause_arg;

static void client_pause_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)out;
    pause_arg *p = t->arg;
    /* A longer or stronger pause already in force is kept, as Redis does. */
    if (p->end_ms == 0) {
        s->client_pause_end_ms = 0;
    } else if (p->end_ms > s->client_pause_end_ms || (!p->write_only && s->client_pause_write_only)) {
        if (p->end_ms > s->client_pause_end_ms) s->client_pause_end_ms = p->end_ms;
        s->client_pause_write_only = p->write_only;
    }
}

static void client_pause_step(rk_txn *t) {
    reply_ok(&t->r);
    txn_finish(t);
}

static void client_pause_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) { client_kill(c); return; }
    pause_arg *p = calloc(1, sizeof(*p));
    if (!p) { txn_fail(t, "ERR out of memory"); return; }
    t->arg = p;
    t->arg_free = free;
    if (slice_eq(argv[1], "pause")) {
        long long ms;
        if (!rk_str2ll(argv[2].ptr, argv[2].len, &ms) || ms < 0) {
            txn_fail(t, "ERR timeout is not an integer or out of range");
            return;
        }
        if (argc == 4) {
            if (slice_eq(argv[3], "write")) p->write_only = 1;
            else if (!slice_eq(argv[3], "all")) { txn_fail(t, "ERR syntax error"); return; }
        } else if (argc > 4) {
            txn_fail(t, "ERR syntax error");
            return;
        }
        p->end_ms = rk_mstime() + ms;
    }
    txn_start(t, client_pause_hop, client_pause_step);
}

static void client_help_cmd(rk_ctx *c) {
    static const char *lines[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME.",
        "LIST [options ...]",
        "    Return information about client connections. Options: TYPE, ID.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "HELP",
        "    Print this help.",
    };
    int n = (int)(sizeof(lines) / sizeof(lines[0]));
    reply_array(&c->r, n);
    for (int i = 0; i < n; i++) reply_simple(&c->r, lines[i]);
}

#define CONN_FLAGS (CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)

static const rk_command client_subcommands[] = {
    {.name = "id", .arity = 2, .flags = CONN_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = client_id_cmd, .summary = "Returns the unique client ID of the connection.",
     .since = "5.0.0", .group = "connection", .complexity = "O(1)"},
    {.name = "setname", .arity = 3, .flags = CONN_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = client_setname_cmd, .summary = "Sets the connection name.",
     .since = "2.6.9", .group = "connection", .complexity = "O(1)"},
    {.name = "getname", .arity = 2, .flags = CONN_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = client_getname_cmd, .summary = "Returns the name of the connection.",
     .since = "2.6.9", .group = "connection", .complexity = "O(1)"},
    {.name = "list", .arity = -2, .flags = CMD_ADMIN | CONN_FLAGS, .acl_categories = "@admin @slow @dangerous @connection",
     .exec = EXEC_ALL, .coord = client_list_coord, .summary = "Lists open connections.",
     .since = "2.4.0", .group = "connection", .complexity = "O(N) where N is the number of client connections",
     .tips = "nondeterministic_output"},
    {.name = "info", .arity = 2, .flags = CONN_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = client_info_cmd, .summary = "Returns information about the connection.",
     .since = "6.2.0", .group = "connection", .complexity = "O(1)", .tips = "nondeterministic_output"},
    {.name = "kill", .arity = -3, .flags = CMD_ADMIN | CONN_FLAGS, .acl_categories = "@admin @slow @dangerous @connection",
     .exec = EXEC_ALL, .coord = client_kill_coord, .summary = "Terminates open connections.",
     .since = "2.4.0", .group = "connection", .complexity = "O(N) where N is the number of client connections"},
    {.name = "no-evict", .arity = 3, .flags = CMD_ADMIN | CONN_FLAGS, .acl_categories = "@admin @slow @dangerous @connection",
     .exec = EXEC_CONN, .proc = client_no_evict_cmd, .summary = "Sets the client eviction mode of the connection.",
     .since = "7.0.0", .group = "connection", .complexity = "O(1)"},
    {.name = "reply", .arity = 3, .flags = CONN_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = client_reply_cmd, .summary = "Instructs the server whether to reply to commands.",
     .since = "3.2.0", .group = "connection", .complexity = "O(1)"},
    {.name = "pause", .arity = -3, .flags = CMD_ADMIN | CONN_FLAGS, .acl_categories = "@admin @slow @dangerous @connection",
     .exec = EXEC_ALL, .coord = client_pause_coord, .summary = "Suspends commands processing.",
     .since = "3.0.0", .group = "connection", .complexity = "O(1)"},
    {.name = "unpause", .arity = 2, .flags = CMD_ADMIN | CONN_FLAGS, .acl_categories = "@admin @slow @dangerous @connection",
     .exec = EXEC_ALL, .coord = client_pause_coord, .summary = "Resumes processing commands from paused clients.",
     .since = "6.2.0", .group = "connection", .complexity = "O(N) Where N is the number of paused clients"},
    {.name = "help", .arity = 2, .flags = CMD_LOADING | CMD_STALE, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = client_help_cmd, .summary = "Returns helpful text about the different subcommands.",
     .since = "5.0.0", .group = "connection", .complexity = "O(1)"},
    {0},
};

const rk_command rk_conn_commands[] = {
    {.name = "select", .arity = 2, .flags = CMD_LOADING | CMD_STALE | CMD_FAST, .acl_categories = "@keyspace @fast @connection",
     .exec = EXEC_CONN, .proc = select_cmd, .summary = "Changes the selected database.", .since = "1.0.0",
     .group = "connection", .complexity = "O(1)"},
    {.name = "auth", .arity = -2, .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_NO_AUTH | CMD_SENTINEL,
     .acl_categories = "@fast @connection", .exec = EXEC_CONN, .proc = auth_cmd,
     .summary = "Authenticates the connection.", .since = "1.0.0", .group = "connection",
     .complexity = "O(N) where N is the number of passwords defined for the user"},
    {.name = "hello", .arity = -1, .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_NO_AUTH | CMD_SENTINEL,
     .acl_categories = "@fast @connection", .exec = EXEC_CONN, .proc = hello_cmd,
     .summary = "Handshakes with the Redis server.", .since = "6.0.0", .group = "connection", .complexity = "O(1)"},
    {.name = "quit", .arity = -1, .flags = CMD_ALLOW_BUSY | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_NO_AUTH,
     .acl_categories = "@fast @connection", .exec = EXEC_CONN, .proc = quit_cmd,
     .summary = "Closes the connection.", .since = "1.0.0", .group = "connection", .complexity = "O(1)"},
    {.name = "reset", .arity = 1, .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_NO_AUTH | CMD_ALLOW_BUSY,
     .acl_categories = "@fast @connection", .exec = EXEC_CONN, .proc = reset_cmd,
     .summary = "Resets the connection.", .since = "6.2.0", .group = "connection", .complexity = "O(1)"},
    {.name = "client", .arity = -2, .flags = CMD_SENTINEL, .acl_categories = "@slow",
     .exec = EXEC_CONN, .subcommands = client_subcommands,
     .summary = "A container for client connection commands.", .since = "2.4.0", .group = "connection",
     .complexity = "Depends on subcommand."},
    {0},
};
