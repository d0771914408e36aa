/* t_dump.c: DUMP and RESTORE (the table rk_dump_commands[]).
 *
 * Threads: the procs run on the shard owning their key, like any key
 * command; the table is read-only after start-up.
 *
 * A payload is Redis's: one RDB value (storage/rdb_value.c), the RDB
 * version as 2 little-endian bytes, then the CRC-64 (storage/crc64.c) of
 * everything before it, 8 little-endian bytes. Invariants: RESTORE
 * validates the whole payload and builds the value before touching the
 * keyspace, so a refused payload changes nothing; errors match Redis 7.0. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/config.h"
#include "core/db.h"
#include "core/object.h"
#include "core/shard.h"
#include "io/reply.h"
#include "storage/crc64.h"
#include "storage/rdb_value.h"

#define DUMP_FOOTER_LEN 10 /* version (2) + CRC-64 (8) */

/* Appends the version and checksum footer to a serialized value. 0 / -1. */
static int dump_add_footer(rk_buf *b)
{
    unsigned char footer[DUMP_FOOTER_LEN];
    footer[0] = RDB_VERSION & 0xff;
    footer[1] = (RDB_VERSION >> 8) & 0xff;
    if (rk_buf_append(b, footer, 2) != 0)
        return -1;
    uint64_t crc = rk_crc64(0, b->data, b->len);
    for (int i = 0; i < 8; i++)
        footer[2 + i] = (unsigned char)(crc >> (8 * i));
    return rk_buf_append(b, footer + 2, 8);
}

/* Redis's verifyDumpPayload: a known RDB version and a matching checksum.
 * *rdbver gets the version. 1 valid, 0 not. */
static int dump_payload_valid(rk_slice payload, int *rdbver)
{
    if (payload.len < DUMP_FOOTER_LEN)
        return 0;
    const unsigned char *footer = (const unsigned char *)payload.ptr + payload.len - DUMP_FOOTER_LEN;
    *rdbver = footer[0] | (footer[1] << 8);
    if (*rdbver > RDB_VERSION)
        return 0;
    uint64_t crc = rk_crc64(0, payload.ptr, payload.len - 8), stored = 0;
    for (int i = 7; i >= 0; i--)
        stored = (stored << 8) | footer[2 + i];
    return crc == stored;
}

static void dump_proc(rk_ctx *c)
{
    rk_obj *o = db_lookup(c->shard, c->db, c->argv[1], LOOKUP_NONE);
    if (!o) {
        reply_null(&c->r);
        return;
    }
    rk_buf payload;
    rk_buf_init(&payload);
    if (rdb_value_write(&payload, o, 1) != 0 || dump_add_footer(&payload) != 0) {
        rk_buf_free(&payload);
        ctx_oom(c);
        return;
    }
    reply_bulk(&c->r, payload.data, payload.len);
    rk_buf_free(&payload);
}

typedef struct restore_opts {
    int replace, absttl;
    long long idle_seconds; /* -1: not given */
    long long freq;         /* -1: not given */
} restore_opts;

/* Parses RESTORE's options as Redis does (IDLETIME and FREQ exclude each
 * other: the second one is a syntax error). 0, or -1 after replying. */
static int parse_restore_opts(rk_ctx *c, restore_opts *o)
{
    *o = (restore_opts){0, 0, -1, -1};
    for (int i = 4; i < c->argc; i++) {
        int more = c->argc - i - 1;
        if (ctx_arg_is(c, i, "replace")) {
            o->replace = 1;
        } else if (ctx_arg_is(c, i, "absttl")) {
            o->absttl = 1;
        } else if (ctx_arg_is(c, i, "idletime") && more >= 1 && o->freq == -1) {
            if (ctx_arg_ll(c, i + 1, &o->idle_seconds))
                return -1;
            if (o->idle_seconds < 0) {
                ctx_error(c, "ERR Invalid IDLETIME value, must be >= 0");
                return -1;
            }
            i++;
        } else if (ctx_arg_is(c, i, "freq") && more >= 1 && o->idle_seconds == -1) {
            if (ctx_arg_ll(c, i + 1, &o->freq))
                return -1;
            if (o->freq < 0 || o->freq > 255) {
                ctx_error(c, "ERR Invalid FREQ value, must be >= 0 and <= 255");
                return -1;
            }
            i++;
        } else {
            ctx_syntax_error(c);
            return -1;
        }
    }
    return 0;
}

/* Redis's objectSetLRUOrLFU for a restored key: FREQ under an LFU policy,
 * IDLETIME under any other. */
static void restore_access_time(rk_ctx *c, rk_obj *o, const restore_opts *opt)
{
    int lfu = c->shard && (c->shard->cfg.maxmemory_policy & MAXMEMORY_FLAG_LFU);
    if (lfu && opt->freq >= 0) {
        uint32_t minutes = (uint32_t)((c->now_ms / 1000 / 60) & 0xFFFF);
        o->lru = (minutes << 8) | (uint32_t)opt->freq;
    } else if (!lfu && opt->idle_seconds >= 0) {
        long long clock = db_lru_clock(c->now_ms);
        long long idle = opt->idle_seconds * 1000 / DB_LRU_RESOLUTION_MS;
        long long at = clock - idle;
        if (idle > clock)
            at = (clock + DB_LRU_CLOCK_MAX / 2) % DB_LRU_CLOCK_MAX;
        o->lru = (uint32_t)at;
    }
}

/* RESTORE's rewritten argv fits on the stack up to this many arguments
 * (every option once, plus ABSTTL); a longer one (options repeated) is
 * allocated. */
#define RESTORE_PROP_STACK_ARGS 16

/* RESTORE left no key where one may have been: journaled as Redis 7.0 does,
 * DEL (UNLINK under lazyfree-lazy-server-del) when a key was removed,
 * nothing otherwise. */
static void restore_removed(rk_ctx *c, rk_slice key, int deleted)
{
    if (!deleted)
        return; /* nothing changed: nothing is journaled */
    int lazy = c->shard && c->shard->cfg.lazyfree_lazy_server_del;
    rk_slice del[2] = {lazy ? RK_SLICE("UNLINK") : RK_SLICE("DEL"), key};
    ctx_propagate(c, 2, del);
    ctx_dirty(c, 1);
}

/* A relative TTL journaled as Redis 7.0's restoreCommand rewrites it: the
 * absolute expiry time in place of the TTL and ABSTTL appended after the
 * client's options, so a replay later restores the same deadline. argv has
 * room for c->argc + 1 entries. */
static void restore_propagate_absttl(rk_ctx *c, long long when_ms, rk_slice *argv)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", when_ms);
    assert(n > 0 && (size_t)n < sizeof(num));
    memcpy(argv, c->argv, sizeof(rk_slice) * (size_t)c->argc);
    argv[2] = (rk_slice){num, (size_t)n};
    argv[c->argc] = RK_SLICE("ABSTTL");
    ctx_propagate(c, c->argc + 1, argv);
}

static void restore_proc(rk_ctx *c)
{
    restore_opts opt;
    if (parse_restore_opts(c, &opt) != 0)
        return;
    rk_slice key = c->argv[1];
    if (!opt.replace && db_lookup(c->shard, c->db, key, LOOKUP_WRITE)) {
        ctx_error(c, "BUSYKEY Target key name already exists.");
        return;
    }
    long long ttl;
    if (ctx_arg_ll(c, 2, &ttl))
        return;
    if (ttl < 0) {
        ctx_error(c, "ERR Invalid TTL value, must be >= 0");
        return;
    }
    int rdbver;
    if (!dump_payload_valid(c->argv[3], &rdbver)) {
        ctx_error(c, "ERR DUMP payload version or checksum are wrong");
        return;
    }
    rdb_limits lim;
    rdb_limits_from_config(&lim, c->shard ? &c->shard->cfg : NULL);
    char why[128];
    size_t used;
    rk_obj *o = rdb_value_read((const unsigned char *)c->argv[3].ptr, c->argv[3].len - DUMP_FOOTER_LEN, &used,
                               rdbver < 1 ? 1 : rdbver, &lim, why, sizeof why);
    if (!o) {
        ctx_error(c, "ERR Bad data format");
        return;
    }
    if (ttl && !opt.absttl) {
        /* Redis's sum wraps to a time in the past: the key counts as
         * already expired. Same outcome here, without the overflow. */
        ttl = ttl > INT64_MAX - c->now_ms ? -1 : ttl + c->now_ms;
    }
    /* The rewritten argv is allocated before the keyspace changes, so that
     * running out of memory here refuses the command instead of leaving a
     * write the journal cannot describe. */
    rk_slice absbuf[RESTORE_PROP_STACK_ARGS], *absargv = NULL;
    const int rewrite = ttl && !opt.absttl && ctx_journaling(c);
    if (rewrite) {
        absargv = c->argc + 1 <= RESTORE_PROP_STACK_ARGS ? absbuf : malloc(sizeof(rk_slice) * (size_t)(c->argc + 1));
        if (!absargv) {
            obj_free(o);
            ctx_oom(c);
            return;
        }
    }
    int deleted = opt.replace ? db_delete(c->shard, c->db, key) : 0;
    if (ttl && db_ttl_already_expired(c->shard, ttl, c->now_ms)) {
        /* Already expired: the key is gone (deleted if it was replaced). */
        obj_free(o);
        restore_removed(c, key, deleted);
        reply_ok(&c->r);
    } else if (db_add(c->shard, c->db, key, o) != 0) {
        obj_free(o);
        restore_removed(c, key, deleted);
        ctx_oom(c);
    } else if (ttl && db_set_expire(c->shard, c->db, key, ttl) != 0) {
        db_delete(c->shard, c->db, key);
        restore_removed(c, key, 1);
        ctx_oom(c);
    } else {
        restore_access_time(c, o, &opt);
        if (rewrite)
            restore_propagate_absttl(c, ttl, absargv);
        ctx_dirty(c, 1);
        reply_ok(&c->r);
    }
    if (absargv != absbuf)
        free(absargv);
}

#define KS1(fl) {.flags = (fl), .bs_index = 1, .fk_lastkey = 0, .fk_step = 1, .fk_limit = 0}

const rk_command rk_dump_commands[] = {
    {.name = "dump", .arity = 2, .flags = CMD_READONLY, .acl_categories = "@keyspace @read @slow",
     .exec = EXEC_KEYS, .proc = dump_proc, .first_key = 1, .last_key = 1, .key_step = 1,
     .keyspecs = {KS1("RO ACCESS")}, .n_keyspecs = 1,
     .summary = "Return a serialized version of the value stored at the specified key.", .since = "2.6.0",
     .group = "generic", .complexity = "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
     .tips = "nondeterministic_output"},
    {.name = "restore", .arity = -4, .flags = CMD_WRITE | CMD_DENYOOM,
     .acl_categories = "@keyspace @write @slow @dangerous", .exec = EXEC_KEYS, .proc = restore_proc,
     .first_key = 1, .last_key = 1, .key_step = 1, .keyspecs = {KS1("OW UPDATE")}, .n_keyspecs = 1,
     .summary = "Create a key using the provided serialized value, previously obtained using DUMP.",
     .since = "2.6.0", .group = "generic",
     .complexity = "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."},
    {0},
};
