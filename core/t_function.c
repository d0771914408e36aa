/* t_function.c: FUNCTION LOAD/DELETE/LIST/DUMP/RESTORE/FLUSH/STATS/KILL/HELP
 * and FCALL/FCALL_RO, with the command table rk_function_commands[].
 *
 * Threads: the coordinators run on the client's home shard; the hops of
 * their all-shard transactions run on each shard, touching only that
 * shard's registry (core/function.h). LIST and DUMP read the home shard's
 * registry, which equals every other shard's between transactions.
 *
 * A change is two hops over every shard, all paused: prepare (compile,
 * check; nothing changes) then commit, or abort when any shard refused
 * (all refuse alike: the code is the same; a shard may differ only by
 * running out of memory). Shard 0 alone journals the command and counts
 * the change (s->dirty), so the AOF and the replication stream get it
 * once; replaying it (AOF, a master's stream) reaches every shard again.
 *
 * Invariant: a change's inputs (argv, the decoded RESTORE payload) are
 * read-only while its hops run; the coordinator frees them at the end. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/client.h"
#include "core/command.h"
#include "core/function.h"
#include "core/journal.h"
#include "core/shard.h"
#include "core/txn.h"
#include "storage/crc64.h"
#include "storage/rdb_file.h"
#include "storage/rdb_value.h"

#define ERR_MAX 512

static int arg_is(rk_slice s, const char *lit) { return rk_slice_eq_nocase(s, lit); }

static void coord_error(rk_client *c, const char *msg)
{
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_error(&r, msg);
    shard_count_error(c->home, msg);
}

static void step_error(rk_txn *t, const char *msg)
{
    reply_error(&t->r, msg);
    shard_count_error(t->coord, msg);
}

/* Redis's addReplySubcommandSyntaxError. */
static void coord_sub_syntax(rk_client *c, rk_slice sub)
{
    char msg[256];
    snprintf(msg, sizeof msg, "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try FUNCTION HELP.",
             (int)(sub.len > 128 ? 128 : sub.len), sub.ptr);
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    coord_error(c, msg);
}

/* Shard 0 records a successful change once for the whole server. */
static void record_change(rk_shard *s, rk_txn *t)
{
    if (s->id != 0)
        return;
    s->dirty++;
    if (journal_active(s->journal) && journal_append_argv(s->journal, t->dbid, t->argc, t->argv) != 0)
        journal_lost(s->journal);
}

/* ---- the change transactions (LOAD, RESTORE) ---- */

enum { OP_LOAD = 1, OP_RESTORE };

typedef struct fn_op {
    int kind;
    int code_arg;          /* LOAD: argv index of the code */
    int replace;
    int policy;            /* RESTORE: FN_RESTORE_* */
    int64_t timeout_ms;
    /* RESTORE: the payload's libraries (into `blob`) */
    int ncodes;
    const char **codes;
    size_t *lens;
    char *blob;
    /* Filled by prepare_step for the reply. */
    char result[ERR_MAX];
    int failed;
} fn_op;

static void op_free(void *p)
{
    fn_op *op = p;
    if (!op)
        return;
    free(op->codes);
    free(op->lens);
    free(op->blob);
    free(op);
}

static void prepare_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    const fn_op *op = t->arg;
    char err[ERR_MAX];
    int rc;
    const char *name = NULL;
    if (op->kind == OP_LOAD) {
        rk_slice code = t->argv[op->code_arg];
        rc = function_prepare_load(s, code.ptr, code.len, op->replace, op->timeout_ms, &name, err, sizeof err);
    } else {
        rc = function_prepare_restore(s, op->ncodes, op->codes, op->lens, op->policy, err, sizeof err);
    }
    /* "+<name>" or "-<message>"; an empty buffer (OOM here) counts as failed. */
    if (rk_buf_append(out, rc == 0 ? "+" : "-", 1) != 0 ||
        rk_buf_append_str(out, rc == 0 ? (name ? name : "") : err) != 0)
        rk_buf_clear(out);
}

static void commit_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)out;
    function_commit(s);
    record_change(s, t);
}

static void abort_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)t;
    (void)out;
    function_abort(s);
}

static void done_step(rk_txn *t)
{
    fn_op *op = t->arg;
    if (op->failed) {
        char msg[ERR_MAX + 8];
        snprintf(msg, sizeof msg, "ERR %s", op->result);
        step_error(t, msg);
    } else if (op->kind == OP_LOAD) {
        reply_bulk_str(&t->r, op->result);
    } else {
        reply_ok(&t->r);
    }
    txn_finish(t);
}

static void prepare_step(rk_txn *t)
{
    fn_op *op = t->arg;
    op->failed = 0;
    op->result[0] = '\0';
    uint64_t mask = t->shard_mask;
    /* The lowest shard's verdict is the reply (every shard judges alike). */
    for (int i = 0; i < 64 && !op->failed; i++) {
        if (!(mask & (1ull << i)))
            continue;
        const rk_buf *o = &t->out[i];
        if (o->len == 0) {
            op->failed = 1;
            snprintf(op->result, sizeof op->result, "out of memory");
        } else if (o->data[0] == '-') {
            op->failed = 1;
            snprintf(op->result, sizeof op->result, "%.*s", (int)(o->len - 1), o->data + 1);
        } else if (!op->result[0]) {
            snprintf(op->result, sizeof op->result, "%.*s", (int)(o->len - 1), o->data + 1);
        }
    }
    txn_hop(t, op->failed ? abort_hop : commit_hop, done_step);
}

static void start_change(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv, fn_op *op)
{
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        op_free(op);
        coord_error(c, "ERR out of memory");
        return;
    }
    t->arg = op;
    t->arg_free = op_free;
    txn_start(t, prepare_hop, prepare_step);
}

/* What a master sends (and what the AOF replays) loads without a timeout,
 * as Redis's mustObeyClient. */
static int64_t load_timeout(const rk_client *c)
{
    return (c && (c->flags & CLIENT_MASTER)) ? 0 : FN_LOAD_TIMEOUT_MS;
}

/* FUNCTION LOAD [REPLACE] <code> */
static void function_load_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    int replace = 0, pos = 2;
    while (pos < argc - 1) {
        rk_slice a = argv[pos++];
        if (arg_is(a, "replace")) {
            replace = 1;
            continue;
        }
        char msg[256];
        snprintf(msg, sizeof msg, "ERR Unknown option given: %.*s", (int)(a.len > 128 ? 128 : a.len), a.ptr);
        coord_error(c, msg);
        return;
    }
    if (pos >= argc) {
        coord_error(c, "ERR Function code is missing");
        return;
    }
    fn_op *op = calloc(1, sizeof *op);
    if (!op) {
        coord_error(c, "ERR out of memory");
        return;
    }
    op->kind = OP_LOAD;
    op->code_arg = pos;
    op->replace = replace;
    op->timeout_ms = load_timeout(c);
    start_change(c, cmd, argc, argv, op);
}

/* ---- FUNCTION DUMP / RESTORE payloads ---- */

/* One library record after its opcode: FUNCTION2 is the whole payload as an
 * RDB string; FUNCTION (7.0 release candidates) is name, engine, an optional
 * description and the code, turned into the shebang form as Redis does.
 * Appends the code to `out`, length-prefixed as function_codes_blob. */
static int read_library(const unsigned char *p, size_t len, size_t *pos, int type, rk_buf *out, char *err,
                        size_t errlen)
{
    char why[128];
    size_t used = 0, n = 0;
    if (type == RDB_OPCODE_FUNCTION2) {
        unsigned char *code = rdb_read_string(p + *pos, len - *pos, &used, &n, why, sizeof why);
        if (!code) {
            snprintf(err, errlen, "Failed loading library payload");
            return -1;
        }
        *pos += used;
        unsigned char le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)((uint64_t)n >> (8 * b));
        int rc = rk_buf_append(out, le, 8) == 0 && rk_buf_append(out, code, n) == 0 ? 0 : -1;
        rk_free(code);
        if (rc != 0)
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    unsigned char *name = NULL, *engine = NULL, *desc = NULL, *blob = NULL;
    size_t nl = 0, el = 0, bl = 0;
    uint64_t has_desc = 0;
    int rc = -1;
    if (!(name = rdb_read_string(p + *pos, len - *pos, &used, &nl, why, sizeof why))) {
        snprintf(err, errlen, "Failed loading library name");
        goto out;
    }
    *pos += used;
    if (!(engine = rdb_read_string(p + *pos, len - *pos, &used, &el, why, sizeof why))) {
        snprintf(err, errlen, "Failed loading engine name");
        goto out;
    }
    *pos += used;
    if (rdb_read_len(p + *pos, len - *pos, &used, &has_desc, why, sizeof why) != 0) {
        snprintf(err, errlen, "Failed loading library description indicator");
        goto out;
    }
    *pos += used;
    if (has_desc) {
        size_t dl;
        if (!(desc = rdb_read_string(p + *pos, len - *pos, &used, &dl, why, sizeof why))) {
            snprintf(err, errlen, "Failed loading library description");
            goto out;
        }
        *pos += used;
    }
    if (!(blob = rdb_read_string(p + *pos, len - *pos, &used, &bl, why, sizeof why))) {
        snprintf(err, errlen, "Failed loading library blob");
        goto out;
    }
    *pos += used;
    uint64_t total = 2 + el + 6 + nl + 1 + bl;
    unsigned char le[8];
    for (int b = 0; b < 8; b++)
        le[b] = (unsigned char)(total >> (8 * b));
    if (rk_buf_append(out, le, 8) != 0 || rk_buf_append(out, "#!", 2) != 0 || rk_buf_append(out, engine, el) != 0 ||
        rk_buf_append(out, " name=", 6) != 0 || rk_buf_append(out, name, nl) != 0 ||
        rk_buf_append(out, "\n", 1) != 0 || rk_buf_append(out, blob, bl) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    rk_free(name);
    rk_free(engine);
    rk_free(desc);
    rk_free(blob);
    return rc;
}

int function_payload_read(const unsigned char *p, size_t len, int type, size_t *pos, rk_buf *out, char *err,
                          size_t errlen)
{
    assert(type == RDB_OPCODE_FUNCTION || type == RDB_OPCODE_FUNCTION2);
    return read_library(p, len, pos, type, out, err, errlen);
}

/* FUNCTION DUMP: FUNCTION2 records, RDB version (LE16), CRC-64 (LE). */
static void function_dump_proc(rk_ctx *c)
{
    rk_buf blob, payload;
    rk_buf_init(&blob);
    rk_buf_init(&payload);
    int ok = function_codes_blob(c->shard, &blob) == 0;
    size_t pos = 0;
    const char *code;
    size_t clen;
    int r;
    while (ok && (r = function_blob_next(blob.data, blob.len, &pos, &code, &clen)) > 0) {
        unsigned char op = RDB_OPCODE_FUNCTION2;
        ok = rk_buf_append(&payload, &op, 1) == 0 && rdb_write_string(&payload, code, clen, c->shard->cfg.rdbcompression) == 0;
    }
    if (ok) {
        unsigned char ver[2] = {RDB_VERSION & 0xff, (RDB_VERSION >> 8) & 0xff};
        ok = rk_buf_append(&payload, ver, 2) == 0;
    }
    if (ok) {
        uint64_t crc = rk_crc64(0, payload.data, payload.len);
        unsigned char le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)(crc >> (8 * b));
        ok = rk_buf_append(&payload, le, 8) == 0;
    }
    if (ok)
        reply_bulk(&c->r, payload.data, payload.len);
    else
        ctx_oom(c);
    rk_buf_free(&blob);
    rk_buf_free(&payload);
}

/* A FUNCTION DUMP payload's libraries into `codes` (length-prefixed, as
 * function_codes_blob), after checking its RDB version and CRC-64 as
 * Redis's verifyDumpPayload. 0, or -1 with Redis's message. */
static int decode_payload(const unsigned char *p, size_t len, rk_buf *codes, int *n, char *err, size_t errlen)
{
    *n = 0;
    if (len < 10 || (unsigned)(p[len - 10] | p[len - 9] << 8) > RDB_VERSION) {
        snprintf(err, errlen, "DUMP payload version or checksum are wrong");
        return -1;
    }
    uint64_t crc = rk_crc64(0, p, len - 8), stored = 0;
    for (int b = 7; b >= 0; b--)
        stored = stored << 8 | p[len - 8 + (size_t)b];
    if (crc != stored) {
        snprintf(err, errlen, "DUMP payload version or checksum are wrong");
        return -1;
    }
    size_t pos = 0;
    while (len - pos > 10) {
        int type = p[pos++];
        if (type != RDB_OPCODE_FUNCTION && type != RDB_OPCODE_FUNCTION2) {
            snprintf(err, errlen, "given type is not a function");
            return -1;
        }
        if (read_library(p, len - 10, &pos, type, codes, err, errlen) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* FUNCTION RESTORE <payload> [FLUSH|APPEND|REPLACE] */
static void function_restore_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    if (argc > 4) {
        coord_sub_syntax(c, argv[1]);
        return;
    }
    int policy = FN_RESTORE_APPEND;
    if (argc == 4) {
        if (arg_is(argv[3], "append"))
            policy = FN_RESTORE_APPEND;
        else if (arg_is(argv[3], "replace"))
            policy = FN_RESTORE_REPLACE;
        else if (arg_is(argv[3], "flush"))
            policy = FN_RESTORE_FLUSH;
        else {
            coord_error(c, "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
            return;
        }
    }
    rk_buf codes;
    rk_buf_init(&codes);
    char err[ERR_MAX];
    int n = 0;
    if (decode_payload((const unsigned char *)argv[2].ptr, argv[2].len, &codes, &n, err, sizeof err) != 0)
        goto fail;
    fn_op *op = calloc(1, sizeof *op);
    if (!op) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    op->kind = OP_RESTORE;
    op->policy = policy;
    op->ncodes = n;
    op->codes = calloc((size_t)(n ? n : 1), sizeof *op->codes);
    op->lens = calloc((size_t)(n ? n : 1), sizeof *op->lens);
    if (!op->codes || !op->lens) {
        op_free(op);
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    op->blob = codes.data; /* the op owns the decoded codes now (malloc'd by rk_buf) */
    size_t bp = 0;
    for (int i = 0; i < n; i++) {
        int rc = function_blob_next(op->blob, codes.len, &bp, &op->codes[i], &op->lens[i]);
        assert(rc == 1);
        (void)rc;
    }
    start_change(c, cmd, argc, argv, op);
    return;
fail:
    rk_buf_free(&codes);
    char msg[ERR_MAX + 8];
    snprintf(msg, sizeof msg, "ERR %s", err);
    coord_error(c, msg);
}

/* ---- DELETE, FLUSH ---- */

static void delete_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    int rc = function_delete(s, t->argv[2].ptr, t->argv[2].len);
    if (rc == 0)
        record_change(s, t);
    if (rk_buf_append(out, rc == 0 ? "1" : "0", 1) != 0)
        rk_buf_clear(out);
}

static void delete_step(rk_txn *t)
{
    /* Shard 0's registry is the reference (all are alike). */
    if (t->out[0].len == 1 && t->out[0].data[0] == '1')
        reply_ok(&t->r);
    else
        step_error(t, "ERR Library not found");
    txn_finish(t);
}

static void function_delete_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        coord_error(c, "ERR out of memory");
        return;
    }
    txn_start(t, delete_hop, delete_step);
}

static void flush_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)out;
    function_flush(s);
    record_change(s, t);
}

static void ok_step(rk_txn *t)
{
    reply_ok(&t->r);
    txn_finish(t);
}

/* FUNCTION FLUSH [ASYNC|SYNC]: libraries are small; both free at once. */
static void function_flush_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    if (argc > 3) {
        coord_sub_syntax(c, argv[1]);
        return;
    }
    if (argc == 3 && !arg_is(argv[2], "sync") && !arg_is(argv[2], "async")) {
        coord_error(c, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        return;
    }
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        coord_error(c, "ERR out of memory");
        return;
    }
    txn_start(t, flush_hop, ok_step);
}

/* ---- LIST, HELP ---- */

/* FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE] */
static void function_list_proc(rk_ctx *c)
{
    int withcode = 0;
    const rk_slice *pattern = NULL;
    for (int i = 2; i < c->argc; i++) {
        if (!withcode && arg_is(c->argv[i], "withcode")) {
            withcode = 1;
            continue;
        }
        if (!pattern && arg_is(c->argv[i], "libraryname")) {
            if (i >= c->argc - 1) {
                ctx_error(c, "ERR library name argument was not given");
                return;
            }
            pattern = &c->argv[++i];
            continue;
        }
        ctx_errorf(c, "ERR Unknown argument %.*s", (int)(c->argv[i].len > 128 ? 128 : c->argv[i].len),
                   c->argv[i].ptr);
        return;
    }
    function_reply_list(c->shard, &c->r, pattern ? pattern->ptr : NULL, pattern ? pattern->len : 0, withcode);
}

static void function_help_proc(rk_ctx *c)
{
    static const char *const lines[] = {
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION "
        "RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    };
    int n = (int)(sizeof lines / sizeof lines[0]);
    reply_array(&c->r, n);
    for (int i = 0; i < n; i++)
        reply_simple(&c->r, lines[i]);
}

#define FN_SUB(nm, ar, fl, cats, ex, fn, summ, cx, tp)                                                           \
    {.name = nm, .arity = ar, .flags = fl, .acl_categories = cats, .exec = ex, fn, .summary = summ,            \
     .since = "7.0.0", .group = "scripting", .complexity = cx, .tips = tp}

static const rk_command k_function_subs[] = {
    FN_SUB("delete", 3, CMD_WRITE | CMD_NOSCRIPT, "@write @slow @scripting", EXEC_ALL,
           .coord = function_delete_coord, "Delete a function by name", "O(1)",
           "request_policy:all_shards response_policy:all_succeeded"),
    FN_SUB("dump", 2, CMD_NOSCRIPT, "@slow @scripting", EXEC_CONN, .proc = function_dump_proc,
           "Dump all functions into a serialized binary payload", "O(N) where N is the number of functions", NULL),
    FN_SUB("flush", -2, CMD_WRITE | CMD_NOSCRIPT, "@write @slow @scripting", EXEC_ALL, .coord = function_flush_coord,
           "Deleting all functions", "O(N) where N is the number of functions deleted",
           "request_policy:all_shards response_policy:all_succeeded"),
    FN_SUB("help", 2, CMD_LOADING | CMD_STALE, "@slow @scripting", EXEC_CONN, .proc = function_help_proc,
           "Show helpful text about the different subcommands", "O(1)", NULL),
    FN_SUB("list", -2, CMD_NOSCRIPT, "@slow @scripting", EXEC_CONN, .proc = function_list_proc,
           "List information about all the functions", "O(N) where N is the number of functions",
           "nondeterministic_output_order"),
    FN_SUB("load", -3, CMD_WRITE | CMD_DENYOOM | CMD_NOSCRIPT, "@write @slow @scripting", EXEC_ALL,
           .coord = function_load_coord, "Create a function with the given arguments (name, code, description)",
           "O(1) (considering compilation time is redundant)",
           "request_policy:all_shards response_policy:all_succeeded"),
    FN_SUB("restore", -3, CMD_WRITE | CMD_DENYOOM | CMD_NOSCRIPT, "@write @slow @scripting", EXEC_ALL,
           .coord = function_restore_coord, "Restore all the functions on the given payload",
           "O(N) where N is the number of functions on the payload",
           "request_policy:all_shards response_policy:all_succeeded"),
    {0},
};

const rk_command rk_function_commands[] = {
    {.name = "function", .arity = -2, .acl_categories = "@slow", .exec = EXEC_CONN,
     .summary = "A container for function commands", .since = "7.0.0", .group = "scripting",
     .complexity = "Depends on subcommand.", .subcommands = k_function_subs},
    {0},
};

/* ---- replay (the AOF) ---- */

int function_apply_local(rk_shard *s, int argc, const rk_slice *argv, char *err, size_t errlen)
{
    err[0] = '\0';
    if (argc < 2) {
        snprintf(err, errlen, "wrong number of arguments");
        return -1;
    }
    rk_slice sub = argv[1];
    if (arg_is(sub, "flush")) {
        function_flush(s);
        return 0;
    }
    if (arg_is(sub, "delete") && argc == 3) {
        if (function_delete(s, argv[2].ptr, argv[2].len) != 0) {
            snprintf(err, errlen, "Library not found");
            return -1;
        }
        return 0;
    }
    if (arg_is(sub, "load") && argc >= 3) {
        int replace = 0;
        for (int i = 2; i < argc - 1; i++) {
            if (!arg_is(argv[i], "replace")) {
                snprintf(err, errlen, "Unknown option given: %.*s", (int)(argv[i].len > 64 ? 64 : argv[i].len),
                         argv[i].ptr);
                return -1;
            }
            replace = 1;
        }
        const char *name;
        if (function_prepare_load(s, argv[argc - 1].ptr, argv[argc - 1].len, replace, 0, &name, err, errlen) != 0)
            return -1;
        function_commit(s);
        return 0;
    }
    if (arg_is(sub, "restore") && (argc == 3 || argc == 4)) {
        int policy = FN_RESTORE_APPEND;
        if (argc == 4)
            policy = arg_is(argv[3], "replace") ? FN_RESTORE_REPLACE
                     : arg_is(argv[3], "flush") ? FN_RESTORE_FLUSH
                     : arg_is(argv[3], "append") ? FN_RESTORE_APPEND
                                                  : -1;
        if (policy < 0) {
            snprintf(err, errlen, "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
            return -1;
        }
        rk_buf codes;
        rk_buf_init(&codes);
        int n = 0, rc = decode_payload((const unsigned char *)argv[2].ptr, argv[2].len, &codes, &n, err, errlen);
        const char **cv = NULL;
        size_t *lv = NULL;
        if (rc == 0) {
            cv = calloc((size_t)(n ? n : 1), sizeof *cv);
            lv = calloc((size_t)(n ? n : 1), sizeof *lv);
            if (!cv || !lv) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
        }
        size_t bp = 0;
        for (int i = 0; rc == 0 && i < n; i++)
            if (function_blob_next(codes.data, codes.len, &bp, &cv[i], &lv[i]) != 1)
                rc = -1;
        if (rc == 0)
            rc = function_prepare_restore(s, n, cv, lv, policy, err, errlen);
        if (rc == 0)
            function_commit(s);
        free(cv);
        free(lv);
        rk_buf_free(&codes);
        return rc;
    }
    snprintf(err, errlen, "FUNCTION %.*s cannot be replayed", (int)(sub.len > 32 ? 32 : sub.len), sub.ptr);
    return -1;
}
