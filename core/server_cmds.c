/* server_cmds.c: server-level commands: PING ECHO TIME COMMAND INFO CONFIG
 * SLOWLOG DEBUG (table rk_server_commands).
 *
 * Threads: procs run on the client's home shard (EXEC_CONN); coordinators
 * run there too and reach other shards only through all-shard transactions
 * (core/txn.h): a hop reads/writes only the shard it runs on and reports in
 * its own out slot, the step (coordinator) combines and replies.
 * The run id, start time and executable are main's (shard.h); the memory
 * peak and the ops/sec sample are process-wide here, under g_sample_lock.
 *
 * Hop payloads are raw structs: every thread shares one address space and
 * one build, so nothing crosses a process boundary. */
#include "core/command.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <liblzf/lzf.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/blocking.h"
#include "core/client.h"
#include "core/listpack.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/zskiplist.h"
#include "core/pubsub.h"
#include "core/config.h"
#include "core/db.h"
#include "core/journal.h"
#include "core/lazyfree.h"
#include "core/log.h"
#include "core/object.h"
#include "core/sha1.h"
#include "core/stream.h"
#include "core/shard.h"
#include "core/txn.h"
#include "storage/aof.h"

#define RK_REDIS_VERSION "7.0.15"
#define RK_RINGKV_VERSION "0.1.0"
#define RK_MEM_BASELINE 866000 /* what an empty redis-server reports, roughly */

/* ---- process-wide facts ------------------------------------------------ */

static pthread_mutex_t g_sample_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_mem_peak;
static int64_t g_ops_sample_us;
static uint64_t g_ops_sample_cmds;

static int64_t wall_us(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- small helpers ----------------------------------------------------- */

static rk_reply client_reply(rk_client *c) { return (rk_reply){client_reply_buf(c), c->resp}; }

/* Coordinator-side error reply (no rk_ctx there). */
static void coord_error(rk_client *c, const char *msg) {
    rk_reply r = client_reply(c);
    reply_error(&r, msg);
    shard_count_error(c->home, msg);
}

static void coord_errorf(rk_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void coord_errorf(rk_client *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    coord_error(c, msg);
}

/* Errors reported by a step, after the txn's reply writer exists. */
static void step_error(rk_txn *t, const char *msg) {
    reply_error(&t->r, msg);
    shard_count_error(t->coord, msg);
}

/* The EXEC_ALL boilerplate: a transaction over every shard running hop then step. */
static void start_all(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv, void *arg,
                      void (*arg_free)(void *), rk_hop_fn *hop, rk_step_fn *step) {
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        if (arg && arg_free) arg_free(arg);
        coord_error(c, "ERR out of memory");
        return;
    }
    t->arg = arg;
    t->arg_free = arg_free;
    txn_start(t, hop, step);
}

static int slice_is(rk_slice s, const char *lit) { return rk_slice_eq_nocase(s, lit); }

/* NUL-terminated copy of a slice into a fixed buffer (truncating). */
static const char *slice_cstr(rk_slice s, char *buf, size_t cap) {
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return buf;
}

static void reply_help(rk_reply *r, const char *const *lines) {
    int n = 0;
    while (lines[n]) n++;
    reply_array(r, n);
    for (int i = 0; i < n; i++) reply_simple(r, lines[i]);
}

/* Reads one length-prefixed field a hop wrote; 0 / -1 when the buffer ends. */
typedef struct rd {
    const char *p, *end;
} rd;

static int rd_bytes(rd *d, void *dst, size_t n) {
    if ((size_t)(d->end - d->p) < n) return -1;
    memcpy(dst, d->p, n);
    d->p += n;
    return 0;
}

static int rd_slice(rd *d, rk_slice *out) {
    uint32_t n;
    if (rd_bytes(d, &n, sizeof(n)) < 0 || (size_t)(d->end - d->p) < n) return -1;
    out->ptr = d->p;
    out->len = n;
    d->p += n;
    return 0;
}

static int wr_slice(rk_buf *b, const void *p, size_t n) {
    uint32_t len = (uint32_t)n;
    if (rk_buf_append(b, &len, sizeof(len)) < 0) return -1;
    return rk_buf_append(b, p, n);
}

/* ---- PING ECHO TIME ---------------------------------------------------- */

static void ping_proc(rk_ctx *c) {
    if (c->argc > 2) {
        ctx_wrong_arity(c);
        return;
    }
    /* RESP2 subscribers get a push-shaped answer, as Redis. */
    if (c->client && (c->client->flags & CLIENT_PUBSUB) && c->resp == 2) {
        reply_array(&c->r, 2);
        reply_bulk_str(&c->r, "pong");
        if (c->argc == 2)
            reply_bulk(&c->r, c->argv[1].ptr, c->argv[1].len);
        else
            reply_bulk(&c->r, "", 0);
        return;
    }
    if (c->argc == 1)
        reply_simple(&c->r, "PONG");
    else
        reply_bulk(&c->r, c->argv[1].ptr, c->argv[1].len);
}

static void echo_proc(rk_ctx *c) { reply_bulk(&c->r, c->argv[1].ptr, c->argv[1].len); }

static void time_proc(rk_ctx *c) {
    int64_t us = wall_us();
    reply_array(&c->r, 2);
    reply_bulk_int(&c->r, us / 1000000);
    reply_bulk_int(&c->r, us % 1000000);
}

/* ---- COMMAND ----------------------------------------------------------- */

typedef struct flag_name {
    uint32_t flag;
    const char *name;
} flag_name;

/* Redis's order; may_replicate and sentinel are hidden there too. */
static const flag_name k_flag_names[] = {
    {CMD_WRITE, "write"},       {CMD_READONLY, "readonly"},       {CMD_DENYOOM, "denyoom"},
    {CMD_ADMIN, "admin"},       {CMD_PUBSUB, "pubsub"},           {CMD_NOSCRIPT, "noscript"},
    {CMD_BLOCKING, "blocking"}, {CMD_LOADING, "loading"},         {CMD_STALE, "stale"},
    {CMD_SKIP_MONITOR, "skip_monitor"}, {CMD_SKIP_SLOWLOG, "skip_slowlog"}, {CMD_FAST, "fast"},
    {CMD_NO_AUTH, "no_auth"},   {CMD_NO_ASYNC_LOADING, "no_async_loading"}, {CMD_NO_MULTI, "no_multi"},       {CMD_MOVABLE_KEYS, "movablekeys"},
    {CMD_ALLOW_BUSY, "allow_busy"},
};

/* Redis's ACL category order (ACLCommandCategories). */
static const char *const k_acl_cats[] = {
    "keyspace", "read",   "write",     "set",       "sortedset",  "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo",     "stream",     "pubsub",      "admin",
    "fast",     "slow",   "blocking",  "dangerous", "connection", "transaction", "scripting",
};
#define N_ACL_CATS ((int)(sizeof(k_acl_cats) / sizeof(k_acl_cats[0])))

static int has_movable_keys(const rk_command *cmd) {
    if (cmd->flags & CMD_MOVABLE_KEYS) return 1;
    for (int k = 0; k < cmd->n_keyspecs; k++)
        if (cmd->keyspecs[k].bs_keyword || cmd->keyspecs[k].fk_keynum) return 1;
    return 0;
}

static uint32_t shown_flags(const rk_command *cmd) {
    uint32_t f = cmd->flags;
    if (has_movable_keys(cmd)) f |= CMD_MOVABLE_KEYS;
    return f;
}

static int token_in_list(const char *list, const char *tok, size_t toklen) {
    if (!list) return 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ') p++;
        const char *start = p;
        while (*p && *p != ' ') p++;
        size_t n = (size_t)(p - start);
        if (n > 0 && *start == '@') {
            start++;
            n--;
        }
        if (n == toklen && strncasecmp(start, tok, n) == 0) return 1;
    }
    return 0;
}

/* Explicit categories plus those Redis derives from the flags. */
static uint32_t acl_cat_mask(const rk_command *cmd) {
    uint32_t m = 0;
    for (int i = 0; i < N_ACL_CATS; i++)
        if (token_in_list(cmd->acl_categories, k_acl_cats[i], strlen(k_acl_cats[i]))) m |= 1u << i;
    uint32_t f = cmd->flags;
    for (int i = 0; i < N_ACL_CATS; i++) {
        const char *n = k_acl_cats[i];
        if ((f & CMD_WRITE) && !strcmp(n, "write")) m |= 1u << i;
        if ((f & CMD_READONLY) && !token_in_list(cmd->acl_categories, "scripting", 9) && !strcmp(n, "read"))
            m |= 1u << i;
        if ((f & CMD_ADMIN) && (!strcmp(n, "admin") || !strcmp(n, "dangerous"))) m |= 1u << i;
        if ((f & CMD_PUBSUB) && !strcmp(n, "pubsub")) m |= 1u << i;
        if ((f & CMD_FAST) && !strcmp(n, "fast")) m |= 1u << i;
        if ((f & CMD_BLOCKING) && !strcmp(n, "blocking")) m |= 1u << i;
        if (!(f & CMD_FAST) && !strcmp(n, "slow")) m |= 1u << i;
    }
    return m;
}

static int count_words(const char *s) {
    int n = 0;
    for (const char *p = s; p && *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ') p++;
    }
    return n;
}

/* Redis prints key-spec flags in lower case, except RW, RO, OW and RM. */
static int keep_case(const char *w) {
    return !strcmp(w, "RW") || !strcmp(w, "RO") || !strcmp(w, "OW") || !strcmp(w, "RM");
}

static void reply_words_as_set(rk_reply *r, const char *s, int lower) {
    reply_set(r, count_words(s));
    for (const char *p = s; p && *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ' ') p++;
        char word[128];
        size_t n = (size_t)(p - start) < sizeof(word) - 1 ? (size_t)(p - start) : sizeof(word) - 1;
        memcpy(word, start, n);
        word[n] = '\0';
        if (lower && !keep_case(word))
            for (char *w = word; *w; w++) *w = (char)tolower((unsigned char)*w);
        reply_simple(r, word);
    }
}

static void reply_keyspec(rk_reply *r, const rk_keyspec *ks) {
    reply_map(r, 3);
    reply_bulk_str(r, "flags");
    reply_words_as_set(r, ks->flags, 1);
    reply_bulk_str(r, "begin_search");
    reply_map(r, 2);
    reply_bulk_str(r, "type");
    if (ks->bs_keyword) {
        reply_bulk_str(r, "keyword");
        reply_bulk_str(r, "spec");
        reply_map(r, 2);
        reply_bulk_str(r, "keyword");
        reply_bulk_str(r, ks->bs_keyword);
        reply_bulk_str(r, "startfrom");
        reply_int(r, ks->bs_startfrom ? ks->bs_startfrom : ks->bs_index);
    } else {
        reply_bulk_str(r, "index");
        reply_bulk_str(r, "spec");
        reply_map(r, 1);
        reply_bulk_str(r, "index");
        reply_int(r, ks->bs_index);
    }
    reply_bulk_str(r, "find_keys");
    reply_map(r, 2);
    reply_bulk_str(r, "type");
    if (ks->fk_keynum) {
        reply_bulk_str(r, "keynum");
        reply_bulk_str(r, "spec");
        reply_map(r, 3);
        reply_bulk_str(r, "keynumidx");
        reply_int(r, ks->kn_idx);
        reply_bulk_str(r, "firstkey");
        reply_int(r, ks->kn_first);
        reply_bulk_str(r, "keystep");
        reply_int(r, ks->kn_step);
    } else {
        reply_bulk_str(r, "range");
        reply_bulk_str(r, "spec");
        reply_map(r, 3);
        reply_bulk_str(r, "lastkey");
        reply_int(r, ks->fk_lastkey);
        reply_bulk_str(r, "keystep");
        reply_int(r, ks->fk_step);
        reply_bulk_str(r, "limit");
        reply_int(r, ks->fk_limit);
    }
}

static int table_count(const rk_command *t) {
    int n = 0;
    while (t && t[n].name) n++;
    return n;
}

/* One Redis 7 COMMAND entry (10 elements). */
static void reply_command_info(rk_reply *r, const rk_command *cmd) {
    reply_array(r, 10);
    reply_bulk_str(r, cmd_full_name(cmd));
    reply_int(r, cmd->arity);
    uint32_t f = shown_flags(cmd);
    int nf = 0;
    for (size_t i = 0; i < sizeof(k_flag_names) / sizeof(k_flag_names[0]); i++)
        if (f & k_flag_names[i].flag) nf++;
    reply_set(r, nf);
    for (size_t i = 0; i < sizeof(k_flag_names) / sizeof(k_flag_names[0]); i++)
        if (f & k_flag_names[i].flag) reply_simple(r, k_flag_names[i].name);
    reply_int(r, cmd->first_key);
    reply_int(r, cmd->last_key);
    reply_int(r, cmd->key_step);
    uint32_t cats = acl_cat_mask(cmd);
    reply_set(r, __builtin_popcount(cats));
    for (int i = 0; i < N_ACL_CATS; i++) {
        if (!(cats & (1u << i))) continue;
        char cat[32];
        snprintf(cat, sizeof(cat), "@%s", k_acl_cats[i]);
        reply_simple(r, cat);
    }
    reply_words_as_set(r, cmd->tips, 0);
    reply_array(r, cmd->n_keyspecs);
    for (int k = 0; k < cmd->n_keyspecs; k++) reply_keyspec(r, &cmd->keyspecs[k]);
    int nsub = table_count(cmd->subcommands);
    reply_array(r, nsub);
    for (int i = 0; i < nsub; i++) reply_command_info(r, &cmd->subcommands[i]);
}

static void reply_command_docs(rk_reply *r, const rk_command *cmd) {
    int nsub = table_count(cmd->subcommands);
    int fields = 0;
    if (cmd->summary) fields++;
    if (cmd->since) fields++;
    if (cmd->group) fields++;
    if (cmd->complexity) fields++;
    if (nsub) fields++;
    reply_map(r, fields);
    if (cmd->summary) {
        reply_bulk_str(r, "summary");
        reply_bulk_str(r, cmd->summary);
    }
    if (cmd->since) {
        reply_bulk_str(r, "since");
        reply_bulk_str(r, cmd->since);
    }
    if (cmd->group) {
        reply_bulk_str(r, "group");
        reply_bulk_str(r, cmd->group);
    }
    if (cmd->complexity) {
        reply_bulk_str(r, "complexity");
        reply_bulk_str(r, cmd->complexity);
    }
    if (nsub) {
        reply_bulk_str(r, "subcommands");
        reply_map(r, nsub);
        for (int i = 0; i < nsub; i++) {
            reply_bulk_str(r, cmd_full_name(&cmd->subcommands[i]));
            reply_command_docs(r, &cmd->subcommands[i]);
        }
    }
}

/* "config|get" or "get". */
static const rk_command *lookup_full_name(rk_slice name) {
    const char *bar = memchr(name.ptr, '|', name.len);
    if (!bar) return cmd_lookup(name);
    rk_slice parent = {name.ptr, (size_t)(bar - name.ptr)};
    rk_slice sub = {bar + 1, name.len - parent.len - 1};
    return cmd_lookup_sub(cmd_lookup(parent), sub);
}

/* The command an argv would run: container commands resolve their subcommand. */
static const rk_command *lookup_argv(int argc, const rk_slice *argv) {
    const rk_command *cmd = cmd_lookup(argv[0]);
    if (!cmd || argc < 2 || !cmd->subcommands) return cmd;
    return cmd_lookup_sub(cmd, argv[1]);
}

static void command_all(rk_ctx *c) {
    int n = cmd_count();
    reply_array(&c->r, n);
    for (int i = 0; i < n; i++) reply_command_info(&c->r, cmd_by_index(i));
}

static void container_unknown_sub(rk_ctx *c) {
    char upper[32];
    const char *name = c->cmd ? cmd_full_name(c->cmd) : "";
    size_t n = 0;
    for (; name[n] && n < sizeof(upper) - 1; n++) upper[n] = (char)toupper((unsigned char)name[n]);
    upper[n] = '\0';
    ctx_errorf(c, "ERR unknown subcommand '%.*s'. Try %s HELP.", (int)(c->argv[1].len > 128 ? 128 : c->argv[1].len),
               c->argv[1].ptr, upper);
}

static void command_proc(rk_ctx *c) {
    if (c->argc == 1) {
        command_all(c);
        return;
    }
    /* Reached only when the dispatcher did not resolve the subcommand. */
    const rk_command *sub = cmd_lookup_sub(c->cmd, c->argv[1]);
    if (!sub || !sub->proc) {
        container_unknown_sub(c);
        return;
    }
    if (cmd_check_arity(sub, c->argc, &c->r, c->argv) < 0) {
        c->errors++;
        shard_count_error(c->shard, "ERR");
        return;
    }
    c->cmd = sub;
    sub->proc(c);
}

static void command_count_proc(rk_ctx *c) { reply_int(&c->r, cmd_count()); }

static void command_info_proc(rk_ctx *c) {
    if (c->argc == 2) {
        command_all(c);
        return;
    }
    reply_array(&c->r, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        const rk_command *cmd = lookup_full_name(c->argv[i]);
        if (cmd)
            reply_command_info(&c->r, cmd);
        else
            reply_null(&c->r);
    }
}

static void command_docs_proc(rk_ctx *c) {
    if (c->argc == 2) {
        int n = cmd_count();
        reply_map(&c->r, n);
        for (int i = 0; i < n; i++) {
            reply_bulk_str(&c->r, cmd_full_name(cmd_by_index(i)));
            reply_command_docs(&c->r, cmd_by_index(i));
        }
        return;
    }
    int64_t h = reply_deferred(&c->r);
    int found = 0;
    for (int i = 2; i < c->argc; i++) {
        const rk_command *cmd = lookup_full_name(c->argv[i]);
        if (!cmd) continue;
        reply_bulk_str(&c->r, cmd_full_name(cmd));
        reply_command_docs(&c->r, cmd);
        found++;
    }
    reply_set_deferred_map(&c->r, h, found);
}

enum { LIST_ALL, LIST_ACLCAT, LIST_PATTERN, LIST_NONE };

static int list_filter_match(const rk_command *cmd, int kind, rk_slice arg) {
    if (kind == LIST_ALL) return 1;
    if (kind == LIST_NONE) return 0;
    if (kind == LIST_PATTERN) {
        const char *full = cmd_full_name(cmd);
        return glob_match(arg.ptr, arg.len, full, strlen(full), 1);
    }
    uint32_t cats = acl_cat_mask(cmd);
    for (int i = 0; i < N_ACL_CATS; i++)
        if ((cats & (1u << i)) && strlen(k_acl_cats[i]) == arg.len &&
            strncasecmp(k_acl_cats[i], arg.ptr, arg.len) == 0)
            return 1;
    return 0;
}

static void command_list_proc(rk_ctx *c) {
    int kind = LIST_ALL;
    rk_slice arg = {"", 0};
    if (c->argc == 5 && slice_is(c->argv[2], "filterby")) {
        arg = c->argv[4];
        if (slice_is(c->argv[3], "module"))
            kind = LIST_NONE; /* no modules */
        else if (slice_is(c->argv[3], "aclcat"))
            kind = LIST_ACLCAT;
        else if (slice_is(c->argv[3], "pattern"))
            kind = LIST_PATTERN;
        else {
            ctx_syntax_error(c);
            return;
        }
    } else if (c->argc != 2) {
        ctx_syntax_error(c);
        return;
    }
    int64_t h = reply_deferred(&c->r);
    int n = 0;
    for (int i = 0; i < cmd_count(); i++) {
        const rk_command *cmd = cmd_by_index(i);
        if (list_filter_match(cmd, kind, arg)) {
            reply_bulk_str(&c->r, cmd_full_name(cmd));
            n++;
        }
        for (const rk_command *s = cmd->subcommands; s && s->name; s++) {
            if (!list_filter_match(s, kind, arg)) continue;
            reply_bulk_str(&c->r, cmd_full_name(s));
            n++;
        }
    }
    reply_set_deferred_array(&c->r, h, n);
}

static void getkeys_common(rk_ctx *c, int with_flags) {
    int argc = c->argc - 2;
    const rk_slice *argv = c->argv + 2;
    const rk_command *cmd = lookup_argv(argc, argv);
    if (!cmd) {
        ctx_error(c, "ERR Invalid command specified");
        return;
    }
    if (cmd->n_keyspecs == 0 && cmd->first_key <= 0) {
        ctx_error(c, "ERR The command has no key arguments");
        return;
    }
    if ((cmd->arity > 0 && cmd->arity != argc) || argc < -cmd->arity) {
        ctx_error(c, "ERR Invalid number of arguments specified for command");
        return;
    }
    int *pos = malloc(sizeof(int) * (size_t)argc);
    const char **kflags = malloc(sizeof(char *) * (size_t)argc);
    if (!pos || !kflags) {
        free(pos);
        free(kflags);
        ctx_oom(c);
        return;
    }
    /* Spec by spec, so each key carries its spec's flags. */
    int n = 0, bad = 0;
    if (cmd->n_keyspecs == 0) {
        n = cmd_get_keys(cmd, argc, argv, pos, argc);
        for (int i = 0; i < n; i++) kflags[i] = "";
        bad = n < 0;
    } else {
        for (int k = 0; k < cmd->n_keyspecs && !bad; k++) {
            rk_command one = *cmd;
            one.keyspecs[0] = cmd->keyspecs[k];
            one.n_keyspecs = 1;
            int got = cmd_get_keys(&one, argc, argv, pos + n, argc - n);
            if (got < 0) {
                bad = 1;
                break;
            }
            for (int i = 0; i < got; i++) kflags[n + i] = cmd->keyspecs[k].flags;
            n += got;
        }
    }
    if (bad || n <= 0) {
        ctx_error(c, "ERR Invalid arguments specified for command");
    } else {
        reply_array(&c->r, n);
        for (int i = 0; i < n; i++) {
            if (with_flags) reply_array(&c->r, 2);
            reply_bulk(&c->r, argv[pos[i]].ptr, argv[pos[i]].len);
            if (with_flags) reply_words_as_set(&c->r, kflags[i], 1);
        }
    }
    free(pos);
    free(kflags);
}

static void command_getkeys_proc(rk_ctx *c) { getkeys_common(c, 0); }
static void command_getkeysandflags_proc(rk_ctx *c) { getkeys_common(c, 1); }

static void command_help_proc(rk_ctx *c) {
    static const char *const lines[] = {
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
        "    Return a list of all commands in this Redis server.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    reply_help(&c->r, lines);
}

/* ---- INFO -------------------------------------------------------------- */

typedef struct info_db {
    uint64_t keys, expires;
    int64_t avg_ttl;
} info_db;

/* What one shard reports; followed by ndbs info_db, ncmdstats rk_cmdstat,
 * nerrorstats rk_errorstat. */
typedef struct info_head {
    rk_stats stats;
    uint64_t nclients, max_qbuf, max_obuf;
    uint64_t blocked, channels, patterns, shard_channels;
    int64_t dirty;
    int32_t ndbs, ncmdstats, nerrorstats;
    rk_loading loading;
    char persist[2048];       /* shard 0: the rdb_* and aof_* lines (storage/persist.c, storage/aof.c) */
} info_head;

_Static_assert(sizeof(rk_stats) % sizeof(uint64_t) == 0, "rk_stats is summed as uint64_t words");

static void info_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)t;
    info_head h;
    memset(&h, 0, sizeof(h));
    h.stats = s->stats;
    h.stats.lazyfree_pending_objects = lazyfree_pending(s); /* a gauge, kept by lazyfree.c */
    h.nclients = s->nclients;
    h.blocked = blocking_clients_here(s);
    pubsub_shard_counts(s, &h.channels, &h.patterns, &h.shard_channels);
    for (rk_client *cl = s->clients; cl; cl = cl->next) {
        if (cl->qbuf_peak > h.max_qbuf) h.max_qbuf = cl->qbuf_peak;
        size_t unsent = cl->conn ? rk_conn_unsent(cl->conn) : 0;
        if (unsent > h.max_obuf) h.max_obuf = unsent;
    }
    h.dirty = s->dirty;
    h.loading = s->loading;
    if (s->id == 0 && g_shard_plugins.info_persistence)
        g_shard_plugins.info_persistence(s, h.persist, sizeof h.persist);
    h.ndbs = s->cfg.databases;
    h.ncmdstats = s->cmdstats ? cmd_total_ids() : 0;
    h.nerrorstats = s->n_errorstats;
    int fail = rk_buf_append(out, &h, sizeof(h));
    for (int i = 0; i < h.ndbs && !fail; i++) {
        rk_db *db = &s->dbs[i];
        info_db d = {dict_size(db->keys), dict_size(db->expires), db->avg_ttl};
        fail = rk_buf_append(out, &d, sizeof(d));
    }
    if (!fail && h.ncmdstats)
        fail = rk_buf_append(out, s->cmdstats, sizeof(rk_cmdstat) * (size_t)h.ncmdstats);
    if (!fail && h.nerrorstats)
        fail = rk_buf_append(out, s->errorstats, sizeof(rk_errorstat) * (size_t)h.nerrorstats);
    if (fail) rk_buf_clear(out); /* the step sees a short answer */
}

typedef struct info_sum {
    rk_stats stats;
    uint64_t nclients, max_qbuf, max_obuf;
    uint64_t blocked, channels, patterns;
    int64_t dirty;
    rk_loading loading;       /* the most advanced shard's view */
    char persist[2048];
    int ndbs;
    info_db *dbs;
    int ncmdstats;
    rk_cmdstat *cmdstats;
    rk_errorstat errorstats[RK_MAX_ERRORSTATS];
    int nerrorstats;
} info_sum;

static void add_errorstat(info_sum *sum, const rk_errorstat *e) {
    for (int i = 0; i < sum->nerrorstats; i++) {
        if (strcmp(sum->errorstats[i].prefix, e->prefix) == 0) {
            sum->errorstats[i].count += e->count;
            return;
        }
    }
    if (sum->nerrorstats < RK_MAX_ERRORSTATS) sum->errorstats[sum->nerrorstats++] = *e;
}

static int info_add_shard(info_sum *sum, const rk_buf *b) {
    rd d = {b->data, b->data + b->len};
    info_head h;
    if (rd_bytes(&d, &h, sizeof(h)) < 0) return -1;
    uint64_t *dst = (uint64_t *)&sum->stats;
    const uint64_t *src = (const uint64_t *)&h.stats;
    for (size_t i = 0; i < sizeof(rk_stats) / sizeof(uint64_t); i++) dst[i] += src[i];
    sum->nclients += h.nclients;
    sum->blocked += h.blocked;
    sum->channels += h.channels + h.shard_channels;
    /* Every shard holds every pattern: count them once. */
    if (h.patterns > sum->patterns) sum->patterns = h.patterns;
    if (h.max_qbuf > sum->max_qbuf) sum->max_qbuf = h.max_qbuf;
    if (h.max_obuf > sum->max_obuf) sum->max_obuf = h.max_obuf;
    sum->dirty += h.dirty;
    if (h.loading.active && (!sum->loading.active || h.loading.loaded_bytes > sum->loading.loaded_bytes))
        sum->loading = h.loading;
    if (h.persist[0]) memcpy(sum->persist, h.persist, sizeof sum->persist);
    for (int i = 0; i < h.ndbs; i++) {
        info_db db;
        if (rd_bytes(&d, &db, sizeof(db)) < 0) return -1;
        if (i >= sum->ndbs) continue;
        /* avg_ttl: weighted by each shard's volatile keys. */
        uint64_t e = sum->dbs[i].expires + db.expires;
        if (e) sum->dbs[i].avg_ttl = (int64_t)((sum->dbs[i].avg_ttl * (double)sum->dbs[i].expires +
                                                db.avg_ttl * (double)db.expires) / (double)e);
        sum->dbs[i].keys += db.keys;
        sum->dbs[i].expires = e;
    }
    for (int i = 0; i < h.ncmdstats; i++) {
        rk_cmdstat cs;
        if (rd_bytes(&d, &cs, sizeof(cs)) < 0) return -1;
        if (i >= sum->ncmdstats) continue;
        sum->cmdstats[i].calls += cs.calls;
        sum->cmdstats[i].usec += cs.usec;
        sum->cmdstats[i].rejected_calls += cs.rejected_calls;
        sum->cmdstats[i].failed_calls += cs.failed_calls;
    }
    for (int i = 0; i < h.nerrorstats; i++) {
        rk_errorstat es;
        if (rd_bytes(&d, &es, sizeof(es)) < 0) return -1;
        es.prefix[sizeof(es.prefix) - 1] = '\0';
        add_errorstat(sum, &es);
    }
    return 0;
}

static void bytes_human(char *buf, size_t cap, double n) {
    static const char units[] = "KMGTPE";
    if (n < 1024) {
        snprintf(buf, cap, "%lluB", (unsigned long long)n);
        return;
    }
    int u = -1;
    while (n >= 1024 && u < 5) {
        n /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.2f%c", n, units[u]);
}

enum {
    SEC_SERVER = 1 << 0, SEC_CLIENTS = 1 << 1, SEC_MEMORY = 1 << 2, SEC_PERSISTENCE = 1 << 3,
    SEC_STATS = 1 << 4, SEC_REPLICATION = 1 << 5, SEC_CPU = 1 << 6, SEC_MODULES = 1 << 7,
    SEC_COMMANDSTATS = 1 << 8, SEC_ERRORSTATS = 1 << 9, SEC_CLUSTER = 1 << 10, SEC_KEYSPACE = 1 << 11,
};
#define SEC_DEFAULT (SEC_SERVER | SEC_CLIENTS | SEC_MEMORY | SEC_PERSISTENCE | SEC_STATS | SEC_REPLICATION | \
                     SEC_CPU | SEC_MODULES | SEC_ERRORSTATS | SEC_CLUSTER | SEC_KEYSPACE)
#define SEC_ALL (SEC_DEFAULT | SEC_COMMANDSTATS)

static const struct {
    const char *name;
    int bit;
} k_sections[] = {
    {"server", SEC_SERVER},           {"clients", SEC_CLIENTS},   {"memory", SEC_MEMORY},
    {"persistence", SEC_PERSISTENCE}, {"stats", SEC_STATS},       {"replication", SEC_REPLICATION},
    {"cpu", SEC_CPU},                 {"modules", SEC_MODULES},   {"commandstats", SEC_COMMANDSTATS},
    {"errorstats", SEC_ERRORSTATS},   {"cluster", SEC_CLUSTER},   {"keyspace", SEC_KEYSPACE},
};

static int info_sections(int argc, const rk_slice *argv) {
    if (argc < 2) return SEC_DEFAULT;
    int mask = 0;
    for (int i = 1; i < argc; i++) {
        if (slice_is(argv[i], "default"))
            mask |= SEC_DEFAULT;
        else if (slice_is(argv[i], "all"))
            mask |= SEC_ALL & ~SEC_MODULES;
        else if (slice_is(argv[i], "everything"))
            mask |= SEC_ALL;
        else
            for (size_t k = 0; k < sizeof(k_sections) / sizeof(k_sections[0]); k++)
                if (slice_is(argv[i], k_sections[k].name)) mask |= k_sections[k].bit;
    }
    return mask;
}

static void info_header(rk_buf *b, const char *title) {
    if (b->len) rk_buf_append_str(b, "\r\n");
    rk_buf_printf(b, "# %s\r\n", title);
}

static void info_server(rk_buf *b, rk_shard *coord) {
    struct utsname un;
    if (uname(&un) != 0) memset(&un, 0, sizeof(un));
    int64_t now = wall_us();
    int64_t up = (now / 1000 - g_start_ms) / 1000;
    if (up < 0) up = 0;
    info_header(b, "Server");
    rk_buf_printf(b,
                  "redis_version:%s\r\nringkv_version:%s\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n"
                  "redis_build_id:0\r\nredis_mode:standalone\r\nos:%s %s %s\r\narch_bits:%d\r\n"
                  "monotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:%s\r\natomicvar_api:c11-builtin\r\n"
                  "gcc_version:%d.%d.%d\r\nprocess_id:%ld\r\nprocess_supervised:no\r\nrun_id:%s\r\ntcp_port:%d\r\n"
                  "server_time_usec:%lld\r\nuptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\nhz:%d\r\n"
                  "configured_hz:%d\r\nlru_clock:%lld\r\nexecutable:%s\r\nconfig_file:%s\r\n"
                  "io_threads_active:0\r\nshards:%d\r\n",
                  RK_REDIS_VERSION, RK_RINGKV_VERSION, un.sysname, un.release, un.machine,
                  (int)(sizeof(void *) * 8), shard_backend_name(coord),
#ifdef __GNUC__
                  __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__,
#else
                  0, 0, 0,
#endif
                  (long)getpid(), g_run_id, coord->cfg.port, (long long)now, (long long)up,
                  (long long)(up / 86400), coord->cfg.hz, coord->cfg.hz, (long long)((now / 1000000) & 0xFFFFFF),
                  g_executable, coord->cfg.config_file ? coord->cfg.config_file : "", g_nshards);
}

static void info_clients(rk_buf *b, rk_shard *coord, const info_sum *sum) {
    info_header(b, "Clients");
    rk_buf_printf(b,
                  "connected_clients:%llu\r\ncluster_connections:0\r\nmaxclients:%lld\r\n"
                  "client_recent_max_input_buffer:%llu\r\nclient_recent_max_output_buffer:%llu\r\n"
                  "blocked_clients:%llu\r\ntracking_clients:0\r\nclients_in_timeout_table:%llu\r\n",
                  (unsigned long long)sum->nclients, coord->cfg.maxclients, (unsigned long long)sum->max_qbuf,
                  (unsigned long long)sum->max_obuf, (unsigned long long)sum->blocked,
                  (unsigned long long)sum->blocked);
}

static void info_memory(rk_buf *b, rk_shard *coord, const info_sum *sum) {
    int64_t used = rk_alloc_total_used() + RK_MEM_BASELINE;
    if (used < RK_MEM_BASELINE) used = RK_MEM_BASELINE;
    pthread_mutex_lock(&g_sample_lock);
    if (used > g_mem_peak) g_mem_peak = used;
    int64_t peak = g_mem_peak;
    pthread_mutex_unlock(&g_sample_lock);
    size_t rss = rk_rss_bytes();
    long pages = sysconf(_SC_PHYS_PAGES), pagesz = sysconf(_SC_PAGESIZE);
    double total_sys = pages > 0 && pagesz > 0 ? (double)pages * (double)pagesz : 0;
    char used_h[32], rss_h[32], peak_h[32], sys_h[32], maxmem_h[32];
    bytes_human(maxmem_h, sizeof(maxmem_h), (double)coord->cfg.maxmemory);
    bytes_human(used_h, sizeof(used_h), (double)used);
    bytes_human(rss_h, sizeof(rss_h), (double)rss);
    bytes_human(peak_h, sizeof(peak_h), (double)peak);
    bytes_human(sys_h, sizeof(sys_h), total_sys);
    info_header(b, "Memory");
    rk_buf_printf(b,
                  "used_memory:%lld\r\nused_memory_human:%s\r\nused_memory_rss:%zu\r\nused_memory_rss_human:%s\r\n"
                  "used_memory_peak:%lld\r\nused_memory_peak_human:%s\r\nused_memory_peak_perc:%.2f%%\r\n"
                  "used_memory_overhead:%d\r\nused_memory_startup:%d\r\nused_memory_dataset:%lld\r\n"
                  "total_system_memory:%.0f\r\ntotal_system_memory_human:%s\r\n"
                  "used_memory_lua:0\r\nused_memory_scripts:0\r\nnumber_of_cached_scripts:0\r\n"
                  "maxmemory:%lld\r\nmaxmemory_human:%s\r\nmaxmemory_policy:%s\r\n"
                  "mem_fragmentation_ratio:%.2f\r\nmem_allocator:mimalloc-2.0.9\r\nlazyfree_pending_objects:%llu\r\n"
                  "lazyfreed_objects:%llu\r\n",
                  (long long)used, used_h, rss, rss_h, (long long)peak, peak_h,
                  peak ? (double)used * 100.0 / (double)peak : 0.0, RK_MEM_BASELINE, RK_MEM_BASELINE,
                  (long long)(used - RK_MEM_BASELINE), total_sys, sys_h, coord->cfg.maxmemory, maxmem_h,
                  config_maxmemory_policy_name(coord->cfg.maxmemory_policy),
                  used ? (double)rss / (double)used : 0.0,
                  (unsigned long long)sum->stats.lazyfree_pending_objects,
                  (unsigned long long)sum->stats.lazyfreed_objects);
}

static void info_persistence(rk_buf *b, const info_sum *sum) {
    const rk_loading *ld = &sum->loading;
    info_header(b, "Persistence");
    rk_buf_printf(b,
                  "loading:%d\r\nasync_loading:0\r\nrdb_changes_since_last_save:%lld\r\n%s",
                  ld->active, (long long)sum->dirty, sum->persist);
    if (ld->active) {
        double perc = ld->total_bytes ? (double)ld->loaded_bytes * 100.0 / (double)ld->total_bytes : 0.0;
        rk_buf_printf(b,
                      "loading_start_time:%lld\r\nloading_total_bytes:%llu\r\nloading_rdb_used_mem:%llu\r\n"
                      "loading_loaded_bytes:%llu\r\nloading_loaded_perc:%.2f\r\nloading_eta_seconds:%lld\r\n",
                      (long long)(ld->start_ms / 1000), (unsigned long long)ld->total_bytes,
                      (unsigned long long)ld->rdb_used_mem, (unsigned long long)ld->loaded_bytes, perc,
                      (long long)ld->eta_seconds);
    }
}

static uint64_t sample_ops_per_sec(uint64_t total_cmds) {
    int64_t now = wall_us();
    uint64_t ops = 0;
    pthread_mutex_lock(&g_sample_lock);
    if (g_ops_sample_us && now > g_ops_sample_us && total_cmds >= g_ops_sample_cmds)
        ops = (uint64_t)((double)(total_cmds - g_ops_sample_cmds) * 1e6 / (double)(now - g_ops_sample_us));
    g_ops_sample_us = now;
    g_ops_sample_cmds = total_cmds;
    pthread_mutex_unlock(&g_sample_lock);
    return ops;
}

/* INFO's texts from the replication thread (g_shard_plugins.repl_info):
 * asked when INFO starts, so they travel while the shards' hop runs; the
 * step waits for both. Coordinator-owned (the txn's arg). */
typedef struct info_repl {
    int pending;           /* answers still to come */
    int step_waiting;      /* the step ran: the last answer finishes INFO */
    rk_txn *t;
    rk_buf replication;    /* the section's body, empty when unavailable */
    rk_buf stats;          /* sync_full .. sync_partial_err lines */
} info_repl;

static void info_stats(rk_buf *b, const info_sum *sum, const info_repl *ir) {
    const rk_stats *st = &sum->stats;
    info_header(b, "Stats");
    rk_buf_printf(
        b,
        "total_connections_received:%llu\r\ntotal_commands_processed:%llu\r\ninstantaneous_ops_per_sec:%llu\r\n"
        "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\ninstantaneous_input_kbps:0.00\r\n"
        "instantaneous_output_kbps:0.00\r\nrejected_connections:%llu\r\n",
        (unsigned long long)st->total_connections_received, (unsigned long long)st->total_commands_processed,
        (unsigned long long)sample_ops_per_sec(st->total_commands_processed),
        (unsigned long long)st->net_input_bytes, (unsigned long long)st->net_output_bytes,
        (unsigned long long)st->rejected_connections);
    rk_buf_append(b, ir->stats.data, ir->stats.len);
    rk_buf_printf(
        b,
        "expired_keys:%llu\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\n"
        "evicted_keys:%llu\r\nevicted_clients:0\r\nkeyspace_hits:%llu\r\nkeyspace_misses:%llu\r\n"
        "pubsub_channels:%llu\r\npubsub_patterns:%llu\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\n"
        "unexpected_error_replies:%llu\r\ntotal_error_replies:%llu\r\n"
        "client_query_buffer_limit_disconnections:%llu\r\nclient_output_buffer_limit_disconnections:%llu\r\n"
        "txn_started:%llu\r\ntxn_retries:%llu\r\nremote_requests:%llu\r\n",
        (unsigned long long)st->expired_keys,
        (unsigned long long)st->evicted_keys, (unsigned long long)st->keyspace_hits, (unsigned long long)st->keyspace_misses,
        (unsigned long long)sum->channels, (unsigned long long)sum->patterns,
        (unsigned long long)st->unexpected_error_replies, (unsigned long long)st->total_error_replies,
        (unsigned long long)st->client_qbuf_limit_disconnections,
        (unsigned long long)st->client_outbuf_limit_disconnections, (unsigned long long)st->txn_started,
        (unsigned long long)st->txn_retries, (unsigned long long)st->remote_requests);
}

static void info_replication(rk_buf *b, const info_repl *ir) {
    info_header(b, "Replication");
    rk_buf_append(b, ir->replication.data, ir->replication.len);
}

static void info_cpu(rk_buf *b) {
    struct rusage self, children;
    if (getrusage(RUSAGE_SELF, &self) != 0) memset(&self, 0, sizeof(self));
    if (getrusage(RUSAGE_CHILDREN, &children) != 0) memset(&children, 0, sizeof(children));
#define TV(tv) ((double)(tv).tv_sec + (double)(tv).tv_usec / 1e6)
    info_header(b, "CPU");
    rk_buf_printf(b,
                  "used_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\nused_cpu_sys_children:%.6f\r\n"
                  "used_cpu_user_children:%.6f\r\n",
                  TV(self.ru_stime), TV(self.ru_utime), TV(children.ru_stime), TV(children.ru_utime));
#undef TV
}

static void info_commandstats(rk_buf *b, const info_sum *sum) {
    info_header(b, "Commandstats");
    for (int i = 0; i < sum->ncmdstats; i++) {
        const rk_cmdstat *cs = &sum->cmdstats[i];
        const rk_command *cmd = cmd_by_id(i);
        if (!cmd || (!cs->calls && !cs->failed_calls && !cs->rejected_calls)) continue;
        rk_buf_printf(b, "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,failed_calls=%llu\r\n",
                      cmd_full_name(cmd), (unsigned long long)cs->calls, (unsigned long long)cs->usec,
                      cs->calls ? (double)cs->usec / (double)cs->calls : 0.0,
                      (unsigned long long)cs->rejected_calls, (unsigned long long)cs->failed_calls);
    }
}

static void info_errorstats(rk_buf *b, const info_sum *sum) {
    info_header(b, "Errorstats");
    for (int i = 0; i < sum->nerrorstats; i++)
        rk_buf_printf(b, "errorstat_%s:count=%llu\r\n", sum->errorstats[i].prefix,
                      (unsigned long long)sum->errorstats[i].count);
}

static void info_keyspace(rk_buf *b, const info_sum *sum) {
    info_header(b, "Keyspace");
    for (int i = 0; i < sum->ndbs; i++) {
        const info_db *d = &sum->dbs[i];
        if (!d->keys) continue;
        rk_buf_printf(b, "db%d:keys=%llu,expires=%llu,avg_ttl=%lld\r\n", i, (unsigned long long)d->keys,
                      (unsigned long long)d->expires, (long long)d->avg_ttl);
    }
}

static void info_render(rk_buf *b, int mask, rk_shard *coord, const info_sum *sum, const info_repl *ir) {
    if (mask & SEC_SERVER) info_server(b, coord);
    if (mask & SEC_CLIENTS) info_clients(b, coord, sum);
    if (mask & SEC_MEMORY) info_memory(b, coord, sum);
    if (mask & SEC_PERSISTENCE) info_persistence(b, sum);
    if (mask & SEC_STATS) info_stats(b, sum, ir);
    if (mask & SEC_REPLICATION) info_replication(b, ir);
    if (mask & SEC_CPU) info_cpu(b);
    if (mask & SEC_MODULES) info_header(b, "Modules");
    if (mask & SEC_COMMANDSTATS) info_commandstats(b, sum);
    if (mask & SEC_ERRORSTATS) info_errorstats(b, sum);
    if (mask & SEC_CLUSTER) {
        info_header(b, "Cluster");
        rk_buf_append_str(b, "cluster_enabled:0\r\n");
    }
    if (mask & SEC_KEYSPACE) info_keyspace(b, sum);
}

static void info_finish(rk_txn *t) {
    info_repl *ir = t->arg;
    info_sum *sum = calloc(1, sizeof(*sum));
    rk_shard *coord = t->coord;
    if (sum) {
        sum->ndbs = coord->cfg.databases;
        sum->ncmdstats = cmd_total_ids();
        sum->dbs = calloc((size_t)sum->ndbs + 1, sizeof(info_db));
        sum->cmdstats = calloc((size_t)sum->ncmdstats + 1, sizeof(rk_cmdstat));
    }
    if (!sum || !sum->dbs || !sum->cmdstats) {
        step_error(t, "ERR out of memory");
        goto done;
    }
    for (int i = 0; i < g_nshards; i++) {
        if (info_add_shard(sum, &t->out[i]) < 0) {
            step_error(t, "ERR out of memory");
            goto done;
        }
    }
    rk_buf text;
    rk_buf_init(&text);
    info_render(&text, info_sections(t->argc, t->argv), coord, sum, ir);
    reply_verbatim(&t->r, text.data ? text.data : "", text.len, "txt");
    rk_buf_free(&text);
done:
    if (sum) {
        free(sum->dbs);
        free(sum->cmdstats);
        free(sum);
    }
    txn_finish(t);
}

static void info_step(rk_txn *t) {
    info_repl *ir = t->arg;
    if (ir->pending > 0) {
        ir->step_waiting = 1; /* the shards stay paused: the hop's figures stay current */
        return;
    }
    info_finish(t);
}

static void info_repl_free(void *p) {
    info_repl *ir = p;
    assert(ir->pending == 0);
    rk_buf_free(&ir->replication);
    rk_buf_free(&ir->stats);
    free(ir);
}

/* An answer from the replication thread, on the coordinator. */
static void info_repl_done(rk_buf *into, void *ud, const char *text, size_t len) {
    info_repl *ir = ud;
    assert(ir->pending > 0);
    if (rk_buf_append(into, text, len) != 0) rk_buf_clear(into);
    if (--ir->pending == 0 && ir->step_waiting) info_finish(ir->t);
}

static void info_repl_replication(void *ud, const char *text, size_t len) {
    info_repl_done(&((info_repl *)ud)->replication, ud, text, len);
}

static void info_repl_stats(void *ud, const char *text, size_t len) {
    info_repl_done(&((info_repl *)ud)->stats, ud, text, len);
}

static void info_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    info_repl *ir = calloc(1, sizeof(*ir));
    rk_txn *t = ir ? txn_new(c, cmd, txn_all_shards(), argc, argv) : NULL;
    if (!t) {
        free(ir);
        coord_error(c, "ERR out of memory");
        return;
    }
    ir->t = t;
    t->arg = ir;
    t->arg_free = info_repl_free;
    int mask = info_sections(argc, argv);
    rk_shard *s = c->home;
    /* Without an answer (no replication module, out of memory) the
     * section stays empty rather than made up. */
    if (g_shard_plugins.repl_info) {
        if ((mask & SEC_REPLICATION) && g_shard_plugins.repl_info(s, "replication", info_repl_replication, ir) == 0)
            ir->pending++;
        if ((mask & SEC_STATS) && g_shard_plugins.repl_info(s, "stats", info_repl_stats, ir) == 0)
            ir->pending++;
    }
    txn_start(t, info_hop, info_step);
}

/* ---- CONFIG ------------------------------------------------------------ */

static void config_proc(rk_ctx *c) { container_unknown_sub(c); }

typedef struct cfg_pairs {
    char **names, **values;
    int n, cap;
    int oom;
} cfg_pairs;

static void collect_pair(void *ud, const char *name, const char *value) {
    cfg_pairs *p = ud;
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0) return; /* matched by an earlier pattern */
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 32;
        char **nn = realloc(p->names, sizeof(char *) * (size_t)cap);
        if (nn) p->names = nn;
        char **vv = realloc(p->values, sizeof(char *) * (size_t)cap);
        if (vv) p->values = vv;
        if (!nn || !vv) {
            p->oom = 1;
            return;
        }
        p->cap = cap;
    }
    char *n = strdup(name), *v = strdup(value ? value : "");
    if (!n || !v) {
        free(n);
        free(v);
        p->oom = 1;
        return;
    }
    p->names[p->n] = n;
    p->values[p->n] = v;
    p->n++;
}

static void config_get_proc(rk_ctx *c) {
    cfg_pairs p = {0};
    for (int i = 2; i < c->argc; i++) {
        char pat[1024];
        slice_cstr(c->argv[i], pat, sizeof(pat));
        config_get(&c->shard->cfg, pat, collect_pair, &p);
    }
    if (p.oom) {
        ctx_oom(c);
    } else {
        reply_map(&c->r, p.n);
        for (int i = 0; i < p.n; i++) {
            reply_bulk_str(&c->r, p.names[i]);
            reply_bulk_str(&c->r, p.values[i]);
        }
    }
    for (int i = 0; i < p.n; i++) {
        free(p.names[i]);
        free(p.values[i]);
    }
    free(p.names);
    free(p.values);
}

static void count_match(void *ud, const char *name, const char *value) {
    (void)name;
    (void)value;
    (*(int *)ud)++;
}

/* A directive name that CONFIG GET knows (so a refused SET is immutable, not unknown). */
static int config_known(const rk_config *cfg, const char *name) {
    int n = 0;
    if (strpbrk(name, "*?[\\")) return 0;
    config_get(cfg, name, count_match, &n);
    return n > 0;
}

/* Redis's CONFIG SET checks, in its order: first problem wins. 0 or -1 (replied). */
static int config_set_validate(rk_client *c, int argc, rk_slice *argv) {
    const rk_config *cfg = &c->home->cfg;
    int npairs = (argc - 2) / 2;
    for (int i = 0; i < npairs; i++) {
        char name[256];
        slice_cstr(argv[2 + 2 * i], name, sizeof(name));
        if (!config_is_mutable(name)) {
            if (config_known(cfg, name)) {
                /* config.c words it as Redis: immutable, or protected (dir, dbfilename). */
                char why[256];
                int rc = config_check_set(cfg, name, "", why, sizeof why);
                assert(rc != 0);
                (void)rc;
                coord_errorf(c, "%s", why);
            } else
                coord_errorf(c, "ERR Unknown option or number of arguments for CONFIG SET - '%s'", name);
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (argv[2 + 2 * j].len == argv[2 + 2 * i].len &&
                strncasecmp(argv[2 + 2 * j].ptr, argv[2 + 2 * i].ptr, argv[2 + 2 * i].len) == 0) {
                coord_errorf(c, "ERR CONFIG SET failed (possibly related to argument '%s') - duplicate parameter", name);
                return -1;
            }
        }
    }
    for (int i = 0; i < npairs; i++) {
        char name[256], err[512];
        char *value = strndup(argv[3 + 2 * i].ptr, argv[3 + 2 * i].len);
        if (!value) {
            coord_error(c, "ERR out of memory");
            return -1;
        }
        slice_cstr(argv[2 + 2 * i], name, sizeof(name));
        err[0] = '\0';
        int rc = config_check_set(cfg, name, value, err, sizeof(err));
        free(value);
        if (rc < 0) {
            if (strncmp(err, "ERR ", 4) == 0)
                coord_error(c, err);
            else
                coord_errorf(c, "ERR CONFIG SET failed (possibly related to argument '%s') - %s", name,
                             err[0] ? err : "invalid value");
            return -1;
        }
    }
    return 0;
}

/* Applies every pair to cfg; stops at the first failure (err filled). */
static int config_apply_pairs(rk_config *cfg, const rk_txn *t, char *err, size_t errlen) {
    for (int i = 2; i + 1 < t->argc; i += 2) {
        char *name = strndup(t->argv[i].ptr, t->argv[i].len);
        char *value = strndup(t->argv[i + 1].ptr, t->argv[i + 1].len);
        int rc = (name && value) ? config_apply_set(cfg, name, value, err, errlen) : -1;
        if (!name || !value) snprintf(err, errlen, "ERR out of memory");
        free(name);
        free(value);
        if (rc < 0) return -1;
    }
    return 0;
}

/* Rehearses on a scratch copy so a failing pair leaves s->cfg untouched. */
static void config_set_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    char err[512] = "";
    rk_config scratch;
    memset(&scratch, 0, sizeof(scratch));
    if (config_copy(&scratch, &s->cfg) < 0) {
        rk_buf_append_str(out, "ERR out of memory");
        return;
    }
    int rc = config_apply_pairs(&scratch, t, err, sizeof(err));
    config_free(&scratch);
    if (rc == 0) rc = config_apply_pairs(&s->cfg, t, err, sizeof(err));
    if (rc < 0) rk_buf_append_str(out, err[0] ? err : "ERR CONFIG SET failed");
}

/* Directives the replication thread reads from its own copy: its own, and
 * the replicas' output limits and the disk-based sync's file. */
static int is_repl_directive(const char *name) {
    static const char *const prefixes[] = {"repl-", "min-replicas-", "min-slaves-", "replica-", "slave-"};
    static const char *const names[] = {"masterauth", "masteruser", "client-output-buffer-limit", "dbfilename",
                                        "rdbchecksum", "rdbcompression"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncasecmp(name, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0) return 1;
    return 0;
}

/* After every shard applied the pairs: the replication thread follows. */
static void config_set_forward(rk_txn *t) {
    if (!g_shard_plugins.repl_config_set) return;
    for (int i = 2; i + 1 < t->argc; i += 2) {
        char name[256];
        slice_cstr(t->argv[i], name, sizeof(name));
        if (!is_repl_directive(name)) continue;
        char *value = strndup(t->argv[i + 1].ptr, t->argv[i + 1].len);
        if (!value) {
            rk_log(LL_WARNING, "CONFIG SET %s: out of memory telling the replication thread", name);
            continue;
        }
        g_shard_plugins.repl_config_set(t->coord, name, value);
        free(value);
    }
}

static void config_set_step(rk_txn *t) {
    for (int i = 0; i < g_nshards; i++) {
        if (t->out[i].len == 0) continue;
        char msg[600];
        size_t n = t->out[i].len < sizeof(msg) - 1 ? t->out[i].len : sizeof(msg) - 1;
        memcpy(msg, t->out[i].data, n);
        msg[n] = '\0';
        if (strncmp(msg, "ERR", 3) != 0) {
            char full[700];
            snprintf(full, sizeof(full), "ERR CONFIG SET failed - %s", msg);
            step_error(t, full);
        } else {
            step_error(t, msg);
        }
        txn_finish(t);
        return;
    }
    config_set_forward(t);
    reply_ok(&t->r);
    txn_finish(t);
}

static void config_set_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    if (argc % 2 != 0) {
        coord_error(c, "ERR syntax error");
        return;
    }
    if (config_set_validate(c, argc, argv) < 0) return;
    start_all(c, cmd, argc, argv, NULL, NULL, config_set_hop, config_set_step);
}

static void resetstat_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)t;
    (void)out;
    memset(&s->stats, 0, sizeof(s->stats));
    if (s->cmdstats) memset(s->cmdstats, 0, sizeof(rk_cmdstat) * (size_t)cmd_total_ids());
    memset(s->errorstats, 0, sizeof(s->errorstats));
    s->n_errorstats = 0;
}

static void resetstat_step(rk_txn *t) {
    pthread_mutex_lock(&g_sample_lock);
    g_mem_peak = 0;
    g_ops_sample_us = 0;
    pthread_mutex_unlock(&g_sample_lock);
    reply_ok(&t->r);
    txn_finish(t);
}

static void config_resetstat_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    start_all(c, cmd, argc, argv, NULL, NULL, resetstat_hop, resetstat_step);
}

static void config_rewrite_proc(rk_ctx *c) {
    const rk_config *cfg = &c->shard->cfg;
    if (!cfg->config_file || !cfg->config_file[0]) {
        ctx_error(c, "ERR The server is running without a config file");
        return;
    }
    char err[512] = "";
    if (config_rewrite(cfg, err, sizeof(err)) < 0) {
        if (strncmp(err, "ERR ", 4) == 0)
            ctx_error(c, err);
        else
            ctx_errorf(c, "ERR Rewriting config file: %s", err[0] ? err : strerror(errno));
        return;
    }
    rk_log(LL_NOTICE, "CONFIG REWRITE executed with success.");
    reply_ok(&c->r);
}

static void config_help_proc(rk_ctx *c) {
    static const char *const lines[] = {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    reply_help(&c->r, lines);
}

/* ---- SLOWLOG ----------------------------------------------------------- */

static void slowlog_proc(rk_ctx *c) { container_unknown_sub(c); }

/* SLOWLOG GET's count: 10 by default, -1 for all. 0 / -1 when invalid. */
static int slowlog_count(int argc, const rk_slice *argv, long long *count) {
    *count = 10;
    if (argc < 3) return 0;
    if (!rk_str2ll(argv[2].ptr, argv[2].len, count) || *count < -1) return -1;
    if (*count == -1) *count = INT64_MAX;
    return 0;
}

static void slowlog_get_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    long long count;
    if (slowlog_count(t->argc, t->argv, &count) < 0) return;
    long long n = 0;
    for (rk_slowlog_entry *e = s->slowlog; e && n < count; e = e->next, n++) {
        int32_t argc = e->argc;
        int fail = rk_buf_append(out, &e->id, sizeof(e->id)) || rk_buf_append(out, &e->time_sec, sizeof(e->time_sec)) ||
                   rk_buf_append(out, &e->duration_us, sizeof(e->duration_us)) ||
                   rk_buf_append(out, &argc, sizeof(argc));
        for (int i = 0; i < e->argc && !fail; i++) fail = wr_slice(out, e->argv[i].ptr, e->argv[i].len);
        if (!fail) fail = wr_slice(out, e->peer ? e->peer : "", e->peer ? strlen(e->peer) : 0);
        if (!fail) fail = wr_slice(out, e->name ? e->name : "", e->name ? strlen(e->name) : 0);
        if (fail) {
            rk_buf_clear(out);
            return;
        }
    }
}

typedef struct slow_item {
    uint64_t id;
    int64_t time_sec, duration_us;
    int32_t argc;
    const char *args; /* serialized argv, peer, name */
    const char *end;
} slow_item;

static int slow_item_newer_first(const void *a, const void *b) {
    const slow_item *x = a, *y = b;
    if (x->id != y->id) return x->id > y->id ? -1 : 1;
    return x->time_sec > y->time_sec ? -1 : x->time_sec < y->time_sec;
}

/* Splits one shard's answer into items; returns how many were added. */
static int slow_parse(const rk_buf *b, slow_item *items, int max) {
    rd d = {b->data, b->data + b->len};
    int n = 0;
    while (d.p < d.end && n < max) {
        slow_item it;
        if (rd_bytes(&d, &it.id, sizeof(it.id)) < 0 || rd_bytes(&d, &it.time_sec, sizeof(it.time_sec)) < 0 ||
            rd_bytes(&d, &it.duration_us, sizeof(it.duration_us)) < 0 || rd_bytes(&d, &it.argc, sizeof(it.argc)) < 0)
            break;
        it.args = d.p;
        rk_slice skip;
        int ok = 1;
        for (int i = 0; i < it.argc + 2 && ok; i++) ok = rd_slice(&d, &skip) == 0;
        if (!ok) break;
        it.end = d.p;
        items[n++] = it;
    }
    return n;
}

static void reply_slow_item(rk_reply *r, const slow_item *it) {
    rd d = {it->args, it->end};
    rk_slice s;
    reply_array(r, 6);
    reply_int(r, (int64_t)it->id);
    reply_int(r, it->time_sec);
    reply_int(r, it->duration_us);
    reply_array(r, it->argc);
    for (int i = 0; i < it->argc; i++) {
        if (rd_slice(&d, &s) < 0) s = (rk_slice){"", 0};
        reply_bulk(r, s.ptr, s.len);
    }
    for (int i = 0; i < 2; i++) {
        if (rd_slice(&d, &s) < 0) s = (rk_slice){"", 0};
        reply_bulk(r, s.ptr, s.len);
    }
}

static void slowlog_get_step(rk_txn *t) {
    long long count;
    slowlog_count(t->argc, t->argv, &count);
    size_t max = 0;
    for (int i = 0; i < g_nshards; i++) max += t->out[i].len / (sizeof(uint64_t) * 3 + sizeof(int32_t)) + 1;
    slow_item *items = malloc(sizeof(slow_item) * max);
    if (!items) {
        step_error(t, "ERR out of memory");
        txn_finish(t);
        return;
    }
    int n = 0;
    for (int i = 0; i < g_nshards; i++) n += slow_parse(&t->out[i], items + n, (int)max - n);
    qsort(items, (size_t)n, sizeof(slow_item), slow_item_newer_first);
    if ((long long)n > count) n = (int)count;
    reply_array(&t->r, n);
    for (int i = 0; i < n; i++) reply_slow_item(&t->r, &items[i]);
    free(items);
    txn_finish(t);
}

static void slowlog_get_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    long long count;
    if (slowlog_count(argc, argv, &count) < 0) {
        coord_error(c, "ERR count should be greater than or equal to -1");
        return;
    }
    start_all(c, cmd, argc, argv, NULL, NULL, slowlog_get_hop, slowlog_get_step);
}

static void slowlog_len_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)t;
    uint64_t len = s->slowlog_len;
    rk_buf_append(out, &len, sizeof(len));
}

static void slowlog_len_step(rk_txn *t) {
    uint64_t total = 0;
    for (int i = 0; i < g_nshards; i++) {
        uint64_t len = 0;
        if (t->out[i].len >= sizeof(len)) memcpy(&len, t->out[i].data, sizeof(len));
        total += len;
    }
    reply_int(&t->r, (int64_t)total);
    txn_finish(t);
}

static void slowlog_len_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    start_all(c, cmd, argc, argv, NULL, NULL, slowlog_len_hop, slowlog_len_step);
}

static void slowlog_reset_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)t;
    (void)out;
    shard_slowlog_reset(s);
}

static void ok_step(rk_txn *t) {
    reply_ok(&t->r);
    txn_finish(t);
}

static void slowlog_reset_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    start_all(c, cmd, argc, argv, NULL, NULL, slowlog_reset_hop, ok_step);
}

static void slowlog_help_proc(rk_ctx *c) {
    static const char *const lines[] = {
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    reply_help(&c->r, lines);
}

/* ---- DEBUG ------------------------------------------------------------- */

/* Redis's digest primitives (debug.c): xor folds SHA1(data) in; mix also
 * rehashes the accumulator so order matters. */
static void digest_xor(uint8_t digest[20], const void *p, size_t n) {
    uint8_t h[20];
    rk_sha1(p, n, h);
    for (int i = 0; i < 20; i++) digest[i] ^= h[i];
}

static void digest_mix(uint8_t digest[20], const void *p, size_t n) {
    digest_xor(digest, p, n);
    uint8_t copy[20];
    memcpy(copy, digest, 20);
    rk_sha1(copy, 20, digest);
}

/* One hash field/value or zset member/score: its own mixed digest, xor-ed in
 * so that the element order does not matter. */
static void digest_pair(uint8_t digest[20], const void *a, size_t alen, const void *b, size_t blen) {
    uint8_t ele[20] = {0};
    digest_mix(ele, a, alen);
    digest_mix(ele, b, blen);
    digest_xor(digest, ele, sizeof(ele)); /* xorDigest: SHA1 of the element digest */
}

static void digest_set_member(void *ud, const char *p, size_t len) { digest_xor(ud, p, len); }
/* List elements are mixed in order (mixDigest), set members xored. */
static void digest_list_element(void *ud, const char *p, size_t len) { digest_mix(ud, p, len); }

/* Redis 7.0 prints zset scores for the digest with "%.17g". */
static void digest_zset_member(uint8_t digest[20], const void *m, size_t mlen, double score) {
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%.17g", score);
    digest_pair(digest, m, mlen, buf, (size_t)n);
}

static void digest_zset(uint8_t digest[20], const rk_obj *o) {
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, lp_next(lp, p))) {
            unsigned char mbuf[24], sbuf[24];
            uint32_t mlen, slen;
            const unsigned char *m = lp_get_bytes(p, mbuf, &mlen);
            const unsigned char *sc = lp_get_bytes(lp_next(lp, p), sbuf, &slen);
            char num[64];
            size_t n = slen < sizeof(num) - 1 ? slen : sizeof(num) - 1;
            memcpy(num, sc, n);
            num[n] = '\0';
            digest_zset_member(digest, m, mlen, strtod(num, NULL));
        }
        return;
    }
    const zset_sl *zs = o->u.ptr;
    for (const zsl_node *n = zs->zsl->header->level[0].forward; n; n = n->level[0].forward)
        digest_zset_member(digest, n->ele->data, n->ele->len, n->score);
}

/* xorObjectDigest: type, value, and a marker when the key has a TTL. */
static void digest_value(uint8_t digest[20], const rk_obj *o, int has_expire) {
    uint32_t type_be = htonl(o->type);
    digest_mix(digest, &type_be, sizeof(type_be));
    if (o->type == OBJ_STRING) {
        char tmp[24];
        rk_slice bytes = obj_string_bytes(o, tmp);
        digest_mix(digest, bytes.ptr, bytes.len);
    } else if (o->type == OBJ_LIST) {
        list_for_each_element(o, digest_list_element, digest);
    } else if (o->type == OBJ_SET) {
        set_for_each_member(o, digest_set_member, digest);
    } else if (o->type == OBJ_HASH) {
        hash_iter it;
        rk_slice f, v;
        hash_iter_init(&it, (rk_obj *)o);
        while (hash_iter_next(&it, &f, &v)) digest_pair(digest, f.ptr, f.len, v.ptr, v.len);
        hash_iter_release(&it);
    } else if (o->type == OBJ_ZSET) {
        digest_zset(digest, o);
    } else if (o->type == OBJ_STREAM) {
        /* Redis mixes each entry's "ms.seq" then its fields and values. */
        const stream *s = o->u.ptr;
        for (size_t i = 0; i < s->n; i++) {
            const s_entry *e = stream_at(s, i);
            char id[48];
            int n = snprintf(id, sizeof(id), "%llu.%llu", (unsigned long long)e->id.ms, (unsigned long long)e->id.seq);
            digest_mix(digest, id, (size_t)n);
            for (uint32_t k = 0; k < 2 * e->nfields; k++) {
                rk_slice f = stream_entry_str(e, k);
                digest_mix(digest, f.ptr, f.len);
            }
        }
    }
    if (has_expire) digest_xor(digest, "!!expire!!", 10);
}

/* The stored entry, logically expired or not (DEBUG sees raw state). */
static dict_entry *raw_find(rk_db *db, rk_slice key) {
    rk_str *k = rkstr_new(key.ptr, key.len);
    if (!k) return NULL;
    dict_entry *e = dict_find(db->keys, k);
    rkstr_free(k);
    return e;
}

typedef struct digest_part {
    int32_t dbid;
    uint8_t x[20];
} digest_part;

/* Per shard and db: XOR of SHA1(key digest) over its keys. */
static void digest_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)t;
    for (int i = 0; i < s->cfg.databases; i++) {
        rk_db *db = &s->dbs[i];
        if (dict_size(db->keys) == 0) continue;
        digest_part part = {.dbid = i};
        dict_iter it;
        dict_iter_init(&it, db->keys, 0);
        dict_entry *e;
        while ((e = dict_next(&it)) != NULL) {
            const rk_str *key = e->key;
            uint8_t kd[20] = {0};
            digest_mix(kd, key->data, key->len);
            digest_value(kd, e->v.val, dict_find(db->expires, key) != NULL);
            digest_xor(part.x, kd, 20);
        }
        dict_iter_release(&it);
        if (rk_buf_append(out, &part, sizeof(part)) < 0) {
            rk_buf_clear(out);
            rk_buf_append_str(out, "!"); /* odd length marks failure */
            return;
        }
    }
}

/* computeDatasetDigest: for each non-empty db in order, mix the db id,
 * then xor in every key's contribution (xor commutes across shards). */
static void digest_step(rk_txn *t) {
    int ndbs = t->coord->cfg.databases;
    uint8_t final[20] = {0};
    for (int i = 0; i < g_nshards; i++) {
        if (t->out[i].len % sizeof(digest_part) != 0) {
            step_error(t, "ERR out of memory");
            txn_finish(t);
            return;
        }
    }
    for (int db = 0; db < ndbs; db++) {
        uint8_t x[20] = {0};
        int present = 0;
        for (int i = 0; i < g_nshards; i++) {
            size_t n = t->out[i].len / sizeof(digest_part);
            for (size_t k = 0; k < n; k++) {
                digest_part part;
                memcpy(&part, t->out[i].data + k * sizeof(part), sizeof(part));
                if (part.dbid != db) continue;
                present = 1;
                for (int b = 0; b < 20; b++) x[b] ^= part.x[b];
            }
        }
        if (!present) continue;
        uint32_t id_be = htonl((uint32_t)db);
        digest_mix(final, &id_be, sizeof(id_be));
        for (int b = 0; b < 20; b++) final[b] ^= x[b];
    }
    char hex[41];
    rk_sha1_hex(final, hex);
    reply_simple(&t->r, hex);
    txn_finish(t);
}

/* Each shard writes (argv index, digest) for the keys it owns. */
static void digest_value_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    rk_db *db = &s->dbs[t->dbid];
    for (int i = 2; i < t->argc; i++) {
        if (rk_key_shard(t->argv[i].ptr, t->argv[i].len) != s->id) continue;
        int32_t idx = i;
        uint8_t d[20] = {0};
        dict_entry *e = raw_find(db, t->argv[i]);
        if (e) digest_value(d, e->v.val, dict_find(db->expires, e->key) != NULL);
        if (rk_buf_append(out, &idx, sizeof(idx)) < 0 || rk_buf_append(out, d, sizeof(d)) < 0) return;
    }
}

static void digest_value_step(rk_txn *t) {
    int nkeys = t->argc - 2;
    char (*hex)[41] = calloc((size_t)nkeys + 1, sizeof(*hex));
    if (!hex) {
        step_error(t, "ERR out of memory");
        txn_finish(t);
        return;
    }
    static const uint8_t zero[20];
    for (int i = 0; i < nkeys; i++) rk_sha1_hex(zero, hex[i]);
    for (int s = 0; s < g_nshards; s++) {
        rd d = {t->out[s].data, t->out[s].data + t->out[s].len};
        int32_t idx;
        uint8_t dg[20];
        while (rd_bytes(&d, &idx, sizeof(idx)) == 0 && rd_bytes(&d, dg, sizeof(dg)) == 0)
            if (idx >= 2 && idx < t->argc) rk_sha1_hex(dg, hex[idx - 2]);
    }
    reply_array(&t->r, nkeys);
    for (int i = 0; i < nkeys; i++) reply_simple(&t->r, hex[i]);
    free(hex);
    txn_finish(t);
}

/* rdbSaveLen's size. */
static size_t rdb_len_size(uint64_t len) {
    if (len < (1 << 6)) return 1;
    if (len < (1 << 14)) return 2;
    if (len <= UINT32_MAX) return 5;
    return 9;
}

/* Size of an integer Redis would store in its compact int encoding, 0 if none. */
static size_t rdb_int_size(long long v) {
    if (v >= INT8_MIN && v <= INT8_MAX) return 2;
    if (v >= INT16_MIN && v <= INT16_MAX) return 3;
    if (v >= INT32_MIN && v <= INT32_MAX) return 5;
    return 0;
}

/* rdbSavedObjectLen for strings: int encoding, LZF when it pays, else raw. */
static size_t rdb_string_len(const rk_obj *o) {
    char tmp[24];
    rk_slice b = obj_string_bytes(o, tmp);
    long long v;
    if (b.len <= 11 && rk_str2ll(b.ptr, b.len, &v)) {
        char back[24];
        int n = rk_ll2str(back, sizeof(back), v);
        size_t sz = rdb_int_size(v);
        if (sz && (size_t)n == b.len && memcmp(back, b.ptr, b.len) == 0) return sz;
    }
    if (b.len > 20) {
        size_t outlen = b.len - 4;
        void *buf = malloc(outlen + 1);
        if (buf) {
            unsigned int clen = lzf_compress(b.ptr, (unsigned int)b.len, buf, (unsigned int)outlen);
            free(buf);
            if (clen > 0) return 1 + rdb_len_size(clen) + rdb_len_size(b.len) + clen;
        }
    }
    return rdb_len_size(b.len) + b.len;
}

static void debug_object_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    rk_slice key = t->argv[2];
    if (rk_key_shard(key.ptr, key.len) != s->id) return;
    dict_entry *e = raw_find(&s->dbs[t->dbid], key);
    if (!e) {
        rk_buf_append_str(out, "-");
        return;
    }
    const rk_obj *o = e->v.val;
    int shared = o->encoding == ENC_INT && o->u.ival >= 0 && o->u.ival < OBJ_SHARED_INTEGERS;
    uint32_t clock = (uint32_t)((rk_mstime() / 1000) & 0xFFFFFF);
    uint32_t idle = clock >= o->lru ? clock - o->lru : clock + (0xFFFFFF - o->lru);
    size_t serlen = o->type == OBJ_STRING ? rdb_string_len(o) : obj_heap_size(o);
    rk_buf_printf(out, "+Value at:%p refcount:%d encoding:%s serializedlength:%zu lru:%u lru_seconds_idle:%u",
                  (const void *)o, shared ? 2147483647 : 1, obj_encoding_name(o->encoding), serlen, o->lru, idle);
}

static void debug_object_step(rk_txn *t) {
    for (int i = 0; i < g_nshards; i++) {
        const rk_buf *b = &t->out[i];
        if (b->len == 0) continue;
        if (b->data[0] == '+') {
            char *line = strndup(b->data + 1, b->len - 1);
            if (line) {
                reply_simple(&t->r, line);
                free(line);
            } else {
                step_error(t, "ERR out of memory");
            }
        } else {
            step_error(t, "ERR no such key");
        }
        txn_finish(t);
        return;
    }
    step_error(t, "ERR no such key");
    txn_finish(t);
}

/* Key "prefix:N" belongs to this shard and is absent: add "value:N" padded/truncated. */
static void debug_populate_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    long long count = 0, valsize = 0;
    rk_str2ll(t->argv[2].ptr, t->argv[2].len, &count);
    if (t->argc == 5) rk_str2ll(t->argv[4].ptr, t->argv[4].len, &valsize);
    rk_slice prefix = t->argc >= 4 ? t->argv[3] : RK_SLICE("key");
    rk_db *db = &s->dbs[t->dbid];
    size_t keycap = prefix.len + 32;
    char *key = malloc(keycap);
    char *val = malloc((size_t)valsize + 32);
    if (!key || !val) goto oom;
    for (long long j = 0; j < count; j++) {
        int klen = snprintf(key, keycap, "%.*s:%lld", (int)prefix.len, prefix.ptr, j);
        rk_slice k = {key, (size_t)klen};
        if (rk_key_shard(k.ptr, k.len) != s->id) continue;
        if (db_lookup(s, db, k, LOOKUP_WRITE)) continue;
        int vlen = snprintf(val, 32, "value:%lld", j);
        size_t len = (size_t)vlen;
        if (valsize > 0) {
            if ((size_t)valsize > len) memset(val + len, 0, (size_t)valsize - len);
            len = (size_t)valsize;
        }
        rk_obj *o = obj_new_string(val, len);
        if (!o) goto oom;
        if (db_add(s, db, k, o) < 0) {
            obj_free(o);
            goto oom;
        }
    }
    free(key);
    free(val);
    return;
oom:
    free(key);
    free(val);
    rk_buf_append_str(out, "ERR out of memory");
}

static void first_error_or_ok_step(rk_txn *t) {
    for (int i = 0; i < g_nshards; i++) {
        if (t->out[i].len == 0) continue;
        char msg[256];
        size_t n = t->out[i].len < sizeof(msg) - 1 ? t->out[i].len : sizeof(msg) - 1;
        memcpy(msg, t->out[i].data, n);
        msg[n] = '\0';
        step_error(t, msg);
        txn_finish(t);
        return;
    }
    reply_ok(&t->r);
    txn_finish(t);
}

static void set_active_expire_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)out;
    char num[32];
    int v = atoi(slice_cstr(t->argv[2], num, sizeof(num)));
    s->active_expire_enabled = v;
    s->cfg.active_expire_enabled = v;
}

static const char *const k_debug_help[] = {
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "RELOAD [NOSAVE]",
    "    Save the RDB on disk (unless NOSAVE) and reload it back into memory.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "OBJECT <key>",
    "    Show low level info about the `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "JOURNAL [OFF]",
    "    Return per shard the journal bytes appended since the previous call (the",
    "    first call starts recording); OFF stops recording.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Print this help.",
    NULL,
};

static int debug_allowed(rk_client *c) {
    int mode = c->home->cfg.enable_debug_command;
    if (mode == DEBUGCMD_YES) return 1;
    if (mode == DEBUGCMD_LOCAL) return c->conn && rk_conn_peer_is_local(c->conn);
    return 0;
}

/* getPositiveLongFromObjectOrReply. 0 / -1 (replied). */
static int positive_arg(rk_client *c, rk_slice a, long long *out) {
    if (!rk_str2ll(a.ptr, a.len, out)) {
        coord_error(c, "ERR value is not an integer or out of range");
        return -1;
    }
    if (*out < 0) {
        coord_error(c, "ERR value is out of range, must be positive");
        return -1;
    }
    return 0;
}

/* DEBUG JOURNAL [OFF]: each shard's test consumer (journal_debug_take).
 * The first call registers it and answers empty strings; every later call
 * answers, per shard in shard order, the journal bytes appended since the
 * previous call (RESP commands and the journal's markers), or an error
 * string starting with "-" when that consumer overran. OFF unregisters. */
static void debug_journal_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    if (t->argc == 3) {
        journal_debug_stop(s->journal);
        return;
    }
    if (journal_debug_take(s->journal, out) != 0) {
        rk_buf_clear(out);
        rk_buf_append_str(out, "-journal consumer overrun or out of memory");
    }
}

static void debug_journal_step(rk_txn *t) {
    reply_array(&t->r, g_nshards);
    for (int i = 0; i < g_nshards; i++) reply_bulk(&t->r, t->out[i].data ? t->out[i].data : "", t->out[i].len);
    txn_finish(t);
}

static void debug_sleep(rk_client *c, rk_slice arg) {
    char num[64];
    double secs = strtod(slice_cstr(arg, num, sizeof(num)), NULL);
    long long us = (long long)(secs * 1000000);
    if (us > 0) {
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    rk_reply r = client_reply(c);
    reply_ok(&r);
}

static void debug_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv) {
    if (!debug_allowed(c)) {
        coord_error(c, "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
                       "you can run it from a local connection, otherwise you need to set this option in the "
                       "configuration file, and then restart the server.");
        return;
    }
    rk_slice sub = argv[1];
    if (slice_is(sub, "help") && argc == 2) {
        rk_reply r = client_reply(c);
        reply_help(&r, k_debug_help);
    } else if (slice_is(sub, "sleep") && argc == 3) {
        debug_sleep(c, argv[2]);
    } else if (slice_is(sub, "digest") && argc == 2) {
        start_all(c, cmd, argc, argv, NULL, NULL, digest_hop, digest_step);
    } else if (slice_is(sub, "digest-value") && argc >= 2) {
        start_all(c, cmd, argc, argv, NULL, NULL, digest_value_hop, digest_value_step);
    } else if (slice_is(sub, "object") && argc == 3) {
        start_all(c, cmd, argc, argv, NULL, NULL, debug_object_hop, debug_object_step);
    } else if (slice_is(sub, "populate") && argc >= 3 && argc <= 5) {
        long long count, valsize = 0;
        if (positive_arg(c, argv[2], &count) < 0) return;
        if (argc == 5 && positive_arg(c, argv[4], &valsize) < 0) return;
        start_all(c, cmd, argc, argv, NULL, NULL, debug_populate_hop, first_error_or_ok_step);
    } else if (slice_is(sub, "reload") && g_shard_plugins.debug_reload) {
        g_shard_plugins.debug_reload(c, argc, argv);
    } else if (slice_is(sub, "segfault") && argc == 2) {
        /* The crash handler's path, as for a real invalid access. */
        rk_log(LL_WARNING, "DEBUG SEGFAULT requested by client id=%llu", (unsigned long long)c->id);
        raise(SIGSEGV);
    } else if (slice_is(sub, "journal") && (argc == 2 || (argc == 3 && slice_is(argv[2], "off")))) {
        start_all(c, cmd, argc, argv, NULL, NULL, debug_journal_hop, debug_journal_step);
    } else if (slice_is(sub, "set-active-expire") && argc == 3) {
        start_all(c, cmd, argc, argv, NULL, NULL, set_active_expire_hop, first_error_or_ok_step);
    } else {
        coord_errorf(c, "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try DEBUG HELP.",
                     slice_cstr(sub, (char[130]){0}, 130));
    }
}

/* ---- the table --------------------------------------------------------- */

#define ADMIN_FLAGS (CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)
#define CMD_INFO_FLAGS (CMD_LOADING | CMD_STALE | CMD_SENTINEL)

static const rk_command k_command_subs[] = {
    {.name = "count", .arity = 2, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_count_proc, .summary = "Get total number of Redis commands",
     .since = "2.8.13", .group = "server", .complexity = "O(1)"},
    {.name = "docs", .arity = -2, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_docs_proc, .summary = "Get array of specific Redis command documentation",
     .since = "7.0.0", .group = "server", .complexity = "O(N) where N is the number of commands to look up",
     .tips = "nondeterministic_output_order"},
    {.name = "getkeys", .arity = -3, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_getkeys_proc, .summary = "Extract keys given a full Redis command",
     .since = "2.8.13", .group = "server", .complexity = "O(N) where N is the number of arguments to the command"},
    {.name = "getkeysandflags", .arity = -3, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_getkeysandflags_proc,
     .summary = "Extract keys and access flags given a full Redis command", .since = "7.0.0", .group = "server",
     .complexity = "O(N) where N is the number of arguments to the command"},
    {.name = "help", .arity = 2, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_help_proc, .summary = "Show helpful text about the different subcommands",
     .since = "5.0.0", .group = "server", .complexity = "O(1)"},
    {.name = "info", .arity = -2, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_info_proc, .summary = "Get array of specific Redis command details, or all when no argument is given.",
     .since = "2.8.13", .group = "server", .complexity = "O(N) where N is the number of commands to look up",
     .tips = "nondeterministic_output_order"},
    {.name = "list", .arity = -2, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_list_proc, .summary = "Get an array of Redis command names",
     .since = "7.0.0", .group = "server", .complexity = "O(N) where N is the total number of Redis commands",
     .tips = "nondeterministic_output_order"},
    {0},
};

static const rk_command k_config_subs[] = {
    {.name = "get", .arity = -3, .flags = ADMIN_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_CONN, .proc = config_get_proc, .summary = "Get the values of configuration parameters",
     .since = "2.0.0", .group = "server", .complexity = "O(N) when N is the number of configuration parameters provided"},
    {.name = "help", .arity = 2, .flags = CMD_LOADING | CMD_STALE, .acl_categories = "@slow", .exec = EXEC_CONN,
     .proc = config_help_proc, .summary = "Show helpful text about the different subcommands", .since = "5.0.0",
     .group = "server", .complexity = "O(1)"},
    {.name = "resetstat", .arity = 2, .flags = ADMIN_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_ALL, .coord = config_resetstat_coord, .summary = "Reset the stats returned by INFO",
     .since = "2.0.0", .group = "server", .complexity = "O(1)",
     .tips = "request_policy:all_nodes response_policy:all_succeeded"},
    {.name = "rewrite", .arity = 2, .flags = ADMIN_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_CONN, .proc = config_rewrite_proc,
     .summary = "Rewrite the configuration file with the in memory configuration", .since = "2.8.0",
     .group = "server", .complexity = "O(1)", .tips = "request_policy:all_nodes response_policy:all_succeeded"},
    {.name = "set", .arity = -4, .flags = ADMIN_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_ALL, .coord = config_set_coord, .summary = "Set configuration parameters to the given values",
     .since = "2.0.0", .group = "server", .complexity = "O(N) when N is the number of configuration parameters provided",
     .tips = "request_policy:all_nodes response_policy:all_succeeded"},
    {0},
};

static const rk_command k_slowlog_subs[] = {
    {.name = "get", .arity = -2, .flags = CMD_ADMIN | CMD_LOADING | CMD_STALE,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = slowlog_get_coord,
     .summary = "Get the slow log's entries", .since = "2.2.12", .group = "server",
     .complexity = "O(N) where N is the number of entries returned",
     .tips = "request_policy:all_nodes nondeterministic_output"},
    {.name = "help", .arity = 2, .flags = CMD_LOADING | CMD_STALE, .acl_categories = "@slow", .exec = EXEC_CONN,
     .proc = slowlog_help_proc, .summary = "Show helpful text about the different subcommands", .since = "6.2.0",
     .group = "server", .complexity = "O(1)"},
    {.name = "len", .arity = 2, .flags = CMD_ADMIN | CMD_LOADING | CMD_STALE,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = slowlog_len_coord,
     .summary = "Get the slow log's length", .since = "2.2.12", .group = "server", .complexity = "O(1)",
     .tips = "request_policy:all_nodes response_policy:agg_sum nondeterministic_output"},
    {.name = "reset", .arity = 2, .flags = CMD_ADMIN | CMD_LOADING | CMD_STALE,
     .acl_categories = "@admin @slow @dangerous", .exec = EXEC_ALL, .coord = slowlog_reset_coord,
     .summary = "Clear all entries from the slow log", .since = "2.2.12", .group = "server",
     .complexity = "O(N) where N is the number of entries in the slowlog",
     .tips = "request_policy:all_nodes response_policy:all_succeeded"},
    {0},
};

const rk_command rk_server_commands[] = {
    {.name = "ping", .arity = -1, .flags = CMD_FAST | CMD_SENTINEL, .acl_categories = "@fast @connection",
     .exec = EXEC_CONN, .proc = ping_proc, .summary = "Ping the server", .since = "1.0.0", .group = "connection",
     .complexity = "O(1)", .tips = "request_policy:all_shards response_policy:all_succeeded"},
    {.name = "echo", .arity = 2, .flags = CMD_LOADING | CMD_STALE | CMD_FAST, .acl_categories = "@fast @connection", .exec = EXEC_CONN,
     .proc = echo_proc, .summary = "Echo the given string", .since = "1.0.0", .group = "connection",
     .complexity = "O(1)"},
    {.name = "time", .arity = 1, .flags = CMD_LOADING | CMD_STALE | CMD_FAST, .acl_categories = "@fast",
     .exec = EXEC_CONN, .proc = time_proc, .summary = "Return the current server time", .since = "2.6.0",
     .group = "server", .complexity = "O(1)", .tips = "nondeterministic_output"},
    {.name = "command", .arity = -1, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @connection",
     .exec = EXEC_CONN, .proc = command_proc, .summary = "Get array of Redis command details", .since = "2.8.13",
     .group = "server", .complexity = "O(N) where N is the total number of Redis commands",
     .tips = "nondeterministic_output_order", .subcommands = k_command_subs},
    {.name = "info", .arity = -1, .flags = CMD_INFO_FLAGS, .acl_categories = "@slow @dangerous",
     .exec = EXEC_ALL, .coord = info_coord, .summary = "Get information and statistics about the server",
     .since = "1.0.0", .group = "server", .complexity = "O(1)",
     .tips = "nondeterministic_output request_policy:all_shards response_policy:special"},
    {.name = "config", .arity = -2, .acl_categories = "@slow", .exec = EXEC_CONN, .proc = config_proc,
     .summary = "A container for server configuration commands", .since = "2.0.0", .group = "server",
     .complexity = "Depends on subcommand.", .subcommands = k_config_subs},
    {.name = "slowlog", .arity = -2, .acl_categories = "@slow", .exec = EXEC_CONN, .proc = slowlog_proc,
     .summary = "A container for slow log commands", .since = "2.2.12", .group = "server",
     .complexity = "Depends on subcommand.", .subcommands = k_slowlog_subs},
    {.name = "bgrewriteaof", .arity = 1, .flags = CMD_NOSCRIPT | CMD_ADMIN, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_ALL, .coord = aof_bgrewriteaof_coord, .summary = "Asynchronously rewrites the append-only file to disk.",
     .since = "1.0.0", .group = "server", .complexity = "O(1)"},
    {.name = "waitaof", .arity = 4, .flags = CMD_NOSCRIPT | CMD_BLOCKING, .acl_categories = "@slow @connection",
     .exec = EXEC_ALL, .coord = aof_waitaof_coord,
     .summary = "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas.",
     .since = "7.2.0", .group = "generic", .complexity = "O(1)"},
    {.name = "debug", .arity = -2, .flags = ADMIN_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .exec = EXEC_ALL, .coord = debug_coord, .summary = "A container for debugging commands", .since = "1.0.0",
     .group = "server", .complexity = "Depends on subcommand."},
    {0},
};
