/* multikey.c: one command whose keys live on several shards.
 *
 * Thread: the client's home shard (coordinator) for multikey_run and the
 * steps; each participant shard for the hops.
 *
 * Two ways, both inside one ordered transaction (txn.h), so the command
 * is atomic across shards:
 *   split/merge  commands that act on each key on its own (MGET, MSET, DEL,
 *                EXISTS, TOUCH, UNLINK) run as sub-commands with each
 *                shard's keys, and the replies are merged;
 *   gather       any other command: every participant copies its keys'
 *                values (and TTLs) to the coordinator, the command runs on a
 *                scratch keyspace holding those copies, and a second hop
 *                writes each key's final state back to its owner.
 * Invariant (gather): between the two hops every participant stays paused,
 * so the values copied are still the current ones when written back.
 *
 * Journal: each shard journals only its own effects, inside the markers of
 * the transaction (core/journal.h) unless the command runs inside EXEC,
 * whose frame then holds them: split parts journal their sub-command (or
 * its rewrite), the gather write-back journals each changed key's final
 * state (DEL, or the commands rebuilding it). Every participant of a write
 * writes its markers, even when its part changed nothing.
 *
 * Gather: which keys changed. The coordinator fingerprints every gathered
 * key on the scratch keyspace before the command and again after it (fp_*,
 * below); a key whose object, content and TTL are the same is not written
 * back at all, so an unchanged source (SINTERSTORE's, SMOVE's ...) is
 * neither journaled nor touched (WATCH sees what Redis's would). A missing
 * key is written back as a delete (the owner journals a DEL only when it
 * removed something). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/blocking.h"
#include "core/client.h"
#include "core/command.h"
#include "core/journal.h"
#include "core/listpack.h"
#include "core/multikey.h"
#include "core/sha1.h"
#include "core/shard.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/txn.h"
#include "core/zskiplist.h"

typedef struct mk_state {
    const rk_command *cmd;
    int argc;
    rk_slice *argv;       /* borrowed: the txn's argv or the EXEC queue's copy */
    int dbid;
    int resp;
    int in_multi;
    rk_buf *reply;        /* where the command's reply goes */
    int blocked;          /* the command asked to block (ctx_block) */
    double block_timeout;
    rk_slice *block_argv; /* ctx_block_argv's arguments */
    void (*done)(rk_txn *t); /* called on the coordinator when the command finished */
    int nkeys;
    int *keypos;          /* argv index of each key */
    int *keyshard;        /* owning shard of each key */
    int group;            /* argv entries per key (MSET: 2) */
    int extra_db;         /* COPY ... DB n: a second database to gather, or -1 */
    int from_master;      /* a replica's master client: keys past their TTL stay live (db.h) */
    /* gather mode: write-back lists, per shard */
    rk_buf writeback[RK_MAX_SHARDS];
} mk_state;

static void writeback_hop(rk_shard *s, rk_txn *t, rk_buf *out);

static void mk_state_free(void *p) {
    mk_state *st = p;
    /* The write-back hop gave every planned object to its shard's keyspace:
     * only the lists themselves remain. */
    for (int i = 0; i < RK_MAX_SHARDS; i++) rk_buf_free(&st->writeback[i]);
    free(st->keypos);
    free(st->keyshard);
    free(st->block_argv);
    free(st);
}

static void ctx_for_shard(rk_ctx *ctx, rk_shard *s, rk_txn *t, mk_state *st, int argc, rk_slice *argv,
                          rk_buf *out) {
    ctx_init(ctx, s, st->dbid, st->resp, st->cmd, argc, argv, out);
    ctx->client_id = t->client ? t->client->id : 0;
    ctx->in_multi = st->in_multi;
}

/* ---- split / merge ---------------------------------------------------- */

static uint64_t mk_mask(const mk_state *st);

static void split_hop_run(rk_shard *s, rk_txn *t, rk_buf *out) {
    mk_state *st = t->mk;
    int argc = 1;
    for (int k = 0; k < st->nkeys; k++)
        if (st->keyshard[k] == s->id) argc += st->group;
    rk_slice *argv = malloc(sizeof(rk_slice) * (size_t)argc);
    if (!argv) { rk_buf_append_str(out, "-ERR out of memory\r\n"); return; }
    argv[0] = st->argv[0];
    int n = 1;
    for (int k = 0; k < st->nkeys; k++) {
        if (st->keyshard[k] != s->id) continue;
        for (int g = 0; g < st->group; g++) argv[n++] = st->argv[st->keypos[k] + g];
    }
    const int frame = (st->cmd->flags & CMD_WRITE) && !st->in_multi;
    if (frame) journal_txn_begin(s->journal, t->seq, mk_mask(st));
    rk_ctx ctx;
    ctx_for_shard(&ctx, s, t, st, argc, argv, out);
    cmd_call(&ctx);
    if (frame) journal_txn_end(s->journal, t->seq, mk_mask(st));
    free(argv);
}

static uint64_t mk_mask(const mk_state *st) {
    uint64_t mask = 0;
    for (int k = 0; k < st->nkeys; k++) mask |= 1ull << st->keyshard[k];
    return mask;
}

static const rk_buf *first_error(rk_txn *t, uint64_t mask) {
    for (int i = 0; i < g_nshards; i++)
        if ((mask & (1ull << i)) && t->out[i].len && t->out[i].data[0] == '-') return &t->out[i];
    return NULL;
}

static void merge_by_key(rk_txn *t, mk_state *st, rk_reply *r) {
    size_t cursor[RK_MAX_SHARDS] = {0};
    uint64_t mask = mk_mask(st);
    /* Skip each part's array header. */
    for (int i = 0; i < g_nshards; i++) {
        if (!(mask & (1ull << i))) continue;
        const char *crlf = memchr(t->out[i].data, '\n', t->out[i].len);
        cursor[i] = crlf ? (size_t)(crlf - t->out[i].data) + 1 : t->out[i].len;
    }
    reply_array(r, st->nkeys);
    for (int k = 0; k < st->nkeys; k++) {
        rk_buf *part = &t->out[st->keyshard[k]];
        size_t at = cursor[st->keyshard[k]];
        int64_t len = resp_reply_len(part->data + at, part->len - at);
        /* Parts are produced by our own procs: a malformed one is a bug. */
        assert(len > 0);
        rk_buf_append(r->out, part->data + at, (size_t)len);
        cursor[st->keyshard[k]] = at + (size_t)len;
    }
}

static void split_step(rk_txn *t) {
    mk_state *st = t->mk;
    uint64_t mask = mk_mask(st);
    rk_reply r = {st->reply, st->resp};
    const rk_buf *err = first_error(t, mask);
    if (err) {
        rk_buf_append(st->reply, err->data, err->len);
    } else if (st->cmd->merge == MERGE_SUM) {
        long long sum = 0;
        for (int i = 0; i < g_nshards; i++)
            if (mask & (1ull << i)) sum += strtoll(t->out[i].data + 1, NULL, 10);
        reply_int(&r, sum);
    } else if (st->cmd->merge == MERGE_OK) {
        reply_ok(&r);
    } else {
        merge_by_key(t, st, &r);
    }
    st->done(t);
}

/* ---- gather / execute / write back ------------------------------------ */

typedef struct gather_rec {
    int db;
    int key;        /* index into mk_state.keypos */
    int oom;
    int64_t expire; /* -1: none */
    rk_obj *copy;   /* NULL: key absent */
} gather_rec;

static int mk_key_owned(mk_state *st, int k, int shard) { return st->keyshard[k] == shard; }

static void gather_one_db(rk_shard *s, mk_state *st, int dbid, rk_buf *out) {
    rk_db *db = &s->dbs[dbid];
    for (int k = 0; k < st->nkeys; k++) {
        if (!mk_key_owned(st, k, s->id)) continue;
        rk_slice key = st->argv[st->keypos[k]];
        gather_rec rec = {.db = dbid, .key = k, .expire = -1};
        rk_obj *o = db_lookup(s, db, key, LOOKUP_WRITE | LOOKUP_NOTOUCH);
        if (o) {
            rec.copy = obj_dup(o);
            rec.oom = rec.copy == NULL;
            rec.expire = db_get_expire(db, key);
        }
        if (rk_buf_append(out, &rec, sizeof(rec)) != 0) {
            if (rec.copy) obj_free(rec.copy);
            rk_buf_clear(out);
            gather_rec fail = {.oom = 1};
            rk_buf_append(out, &fail, sizeof(fail)); /* capacity exists: it held more before */
            return;
        }
    }
}

static void gather_hop_run(rk_shard *s, rk_txn *t, rk_buf *out) {
    mk_state *st = t->mk;
    gather_one_db(s, st, st->dbid, out);
    if (st->extra_db >= 0 && st->extra_db != st->dbid) gather_one_db(s, st, st->extra_db, out);
}

/* The scratch keyspace: a shard that exists only for the duration of one
 * command, sharing the home shard's configuration and statistics. */

static int scratch_init(rk_shard *sc, rk_shard *home) {
    memset(sc, 0, sizeof(*sc));
    sc->id = home->id;
    sc->cfg = home->cfg;          /* shallow: read-only during the command */
    sc->cmdstats = home->cmdstats;
    sc->txq = home->txq;
    sc->active_expire_enabled = 0;
    sc->dbs = rk_calloc(sizeof(rk_db) * (size_t)home->cfg.databases);
    if (!sc->dbs) return -1;
    for (int i = 0; i < home->cfg.databases; i++) {
        if (db_init(&sc->dbs[i], i) != 0) {
            for (int j = 0; j < i; j++) db_release(&sc->dbs[j]);
            rk_free(sc->dbs);
            return -1;
        }
    }
    return 0;
}

static void scratch_release(rk_shard *sc) {
    for (int i = 0; i < sc->cfg.databases; i++) db_release(&sc->dbs[i]);
    rk_free(sc->dbs);
    shard_slowlog_reset(sc);
}

typedef struct wb_rec {
    int db;
    int key;
    int64_t expire;
    rk_obj *val;   /* NULL: delete */
} wb_rec;

static void writeback_hop_run(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)out;
    mk_state *st = t->mk;
    rk_buf *list = &st->writeback[s->id];
    rk_journal *j = s->journal;
    const int frame = !st->in_multi;
    if (frame) journal_txn_begin(j, t->seq, mk_mask(st));
    for (size_t off = 0; off + sizeof(wb_rec) <= list->len; off += sizeof(wb_rec)) {
        wb_rec rec;
        memcpy(&rec, list->data + off, sizeof(rec));
        rk_slice key = st->argv[st->keypos[rec.key]];
        rk_db *db = &s->dbs[rec.db];
        keyspace_touched(s, db, key);
        if (!rec.val) {
            if (db_delete(s, db, key)) {
                s->dirty++;
                rk_slice del[2] = {RK_SLICE("DEL"), key};
                journal_append_argv(j, rec.db, 2, del);
            }
            continue;
        }
        if (db_set(s, db, key, rec.val, 0) != 0) {
            obj_free(rec.val); /* out of memory: the old value stays */
            continue;
        }
        if (rec.expire >= 0) db_set_expire(s, db, key, rec.expire);
        s->dirty++;
        /* The key's whole final state: the command ran elsewhere (on the
         * coordinator's scratch keyspace), so only its effect can be journaled here. */
        journal_append_key_state(j, rec.db, key, rec.val, rec.expire);
    }
    if (frame) journal_txn_end(j, t->seq, mk_mask(st));
}

static void writeback_step(rk_txn *t) {
    mk_state *st = t->mk;
    st->done(t);
}

/* ---- fingerprints: did a gathered key change? --------------------------
 *
 * A fingerprint is the SHA-1 of a key's state on the scratch keyspace: the
 * object's address, its type, every element length-prefixed in iteration
 * order, and its expiry. It is only ever compared with a fingerprint of the
 * same key on the same scratch keyspace taken before the command: an object
 * the command left alone keeps its address and its iteration order, so it
 * hashes the same; a replaced object has a new address (or is gone), and an
 * object changed in place hashes differently. The comparison errs only one
 * way: an equal value rebuilt by the command counts as changed (written back
 * and journaled, as before), never the reverse short of a SHA-1 collision. */

typedef struct mk_fp {
    uint8_t h[RK_SHA1_LEN];
} mk_fp;

static void fp_bytes(rk_sha1_ctx *c, const void *p, size_t len) {
    uint64_t n = len;
    rk_sha1_update(c, &n, sizeof(n));
    rk_sha1_update(c, p, len);
}

/* A list element or set member. */
static void fp_set_member(void *ud, const char *p, size_t len) { fp_bytes(ud, p, len); }


static void fp_hash(rk_sha1_ctx *c, const rk_obj *o) {
    hash_iter it;
    rk_slice f, v;
    hash_iter_init(&it, (rk_obj *)o); /* read only: the iterator takes a non-const object */
    while (hash_iter_next(&it, &f, &v)) {
        fp_bytes(c, f.ptr, f.len);
        fp_bytes(c, v.ptr, v.len);
    }
    hash_iter_release(&it);
}

static void fp_zset(rk_sha1_ctx *c, const rk_obj *o) {
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, p)) { /* member, score, member, ... */
            unsigned char buf[24];
            uint32_t len;
            const unsigned char *b = lp_get_bytes(p, buf, &len);
            fp_bytes(c, b, len);
        }
        return;
    }
    const zset_sl *zs = o->u.ptr;
    for (const zsl_node *n = zs->zsl->header->level[0].forward; n; n = n->level[0].forward) {
        fp_bytes(c, n->ele->data, n->ele->len);
        rk_sha1_update(c, &n->score, sizeof(n->score));
    }
}

/* The fingerprint of key in db (absent keys have one too, the same for
 * all). Returns whether the key was found: a lookup that fails for want of
 * memory also reports it absent, so an absent key never counts as
 * unchanged (see plan_writeback). Expired keys are reported absent but not
 * deleted: fingerprinting changes nothing on the scratch keyspace. */
static int fp_key(rk_shard *sc, rk_db *db, rk_slice key, mk_fp *out) {
    rk_sha1_ctx c;
    rk_sha1_init(&c);
    const rk_obj *o = db_lookup(sc, db, key, LOOKUP_WRITE | LOOKUP_NOTOUCH | LOOKUP_NOEXPIRE);
    uintptr_t addr = (uintptr_t)o;
    rk_sha1_update(&c, &addr, sizeof(addr));
    if (o) {
        int64_t expire = db_get_expire(db, key);
        rk_sha1_update(&c, &expire, sizeof(expire));
        uint8_t type = (uint8_t)o->type, enc = (uint8_t)o->encoding;
        rk_sha1_update(&c, &type, 1);
        rk_sha1_update(&c, &enc, 1);
        switch (o->type) {
        case OBJ_STRING: {
            char tmp[24];
            rk_slice b = obj_string_bytes(o, tmp);
            fp_bytes(&c, b.ptr, b.len);
            break;
        }
        case OBJ_LIST: list_for_each_element(o, fp_set_member, &c); break;
        case OBJ_SET: set_for_each_member(o, fp_set_member, &c); break;
        case OBJ_HASH: fp_hash(&c, o); break;
        case OBJ_ZSET: fp_zset(&c, o); break;
        default: {
            /* A type without a walker here: a value unique to this call
             * makes the key count as changed, the safe side. */
            static _Thread_local uint64_t unique;
            unique++;
            rk_sha1_update(&c, &unique, sizeof(unique));
            break;
        }
        }
    }
    rk_sha1_final(&c, out->h);
    return o != NULL;
}

/* The databases gathered: the command's, and COPY's DB target. */
static int gathered_dbs(const mk_state *st, int dbs[2]) {
    dbs[0] = st->dbid;
    dbs[1] = st->extra_db;
    return (st->extra_db >= 0 && st->extra_db != st->dbid) ? 2 : 1;
}

/* Fingerprints of every gathered key, indexed d * nkeys + k; NULL when out
 * of memory (then every key is written back: the safe side). Taken with or
 * without a journal consumer, so that the keys written back (and so WATCH
 * and the journal) never depend on whether the AOF is on. Bound: 2 * nkeys
 * entries. */
static mk_fp *fp_before(mk_state *st, rk_shard *sc) {
    int dbs[2];
    int ndbs = gathered_dbs(st, dbs);
    mk_fp *fp = malloc(sizeof(mk_fp) * (size_t)(ndbs * (st->nkeys ? st->nkeys : 1)));
    if (!fp) return NULL;
    for (int d = 0; d < ndbs; d++)
        for (int k = 0; k < st->nkeys; k++)
            fp_key(sc, &sc->dbs[dbs[d]], st->argv[st->keypos[k]], &fp[d * st->nkeys + k]);
    return fp;
}

/* Plans the write-back: the final state of every key in every database
 * gathered, except the keys present both before and after the command with
 * the same fingerprint (`before` may be NULL: no exceptions). A key absent
 * after the command is written back as a delete, which the owner journals
 * only when it removes something. */
static int plan_writeback(rk_txn *t, mk_state *st, rk_shard *sc, const mk_fp *before) {
    (void)t;
    int dbs[2];
    int ndbs = gathered_dbs(st, dbs);
    for (int d = 0; d < ndbs; d++) {
        rk_db *db = &sc->dbs[dbs[d]];
        for (int k = 0; k < st->nkeys; k++) {
            /* A key named twice is written back once. */
            int dup = 0;
            for (int j = 0; j < k && !dup; j++) {
                rk_slice a = st->argv[st->keypos[j]], b = st->argv[st->keypos[k]];
                dup = a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
            }
            if (dup) continue;
            rk_slice key = st->argv[st->keypos[k]];
            if (before) {
                mk_fp after;
                if (fp_key(sc, db, key, &after) && memcmp(after.h, before[d * st->nkeys + k].h, RK_SHA1_LEN) == 0)
                    continue; /* present before (an absent key hashes differently) and unchanged */
            }
            wb_rec rec = {.db = dbs[d], .key = k, .expire = -1};
            rk_obj *o;
            /* Absence is written back as a delete: a lookup that failed
             * must not look like one. */
            if (db_lookup_checked(sc, db, key, LOOKUP_WRITE | LOOKUP_NOTOUCH, &o) != 0)
                return -1;
            if (o) {
                rec.val = obj_dup(o);
                if (!rec.val) return -1;
                rec.expire = db_get_expire(db, key);
            }
            if (rk_buf_append(&st->writeback[st->keyshard[k]], &rec, sizeof(rec)) != 0) {
                if (rec.val) obj_free(rec.val);
                return -1;
            }
        }
    }
    return 0;
}

static void free_writeback(mk_state *st) {
    for (int i = 0; i < RK_MAX_SHARDS; i++) {
        rk_buf *list = &st->writeback[i];
        for (size_t off = 0; off + sizeof(wb_rec) <= list->len; off += sizeof(wb_rec)) {
            wb_rec rec;
            memcpy(&rec, list->data + off, sizeof(rec));
            if (rec.val) obj_free(rec.val);
        }
        rk_buf_clear(list);
    }
}

static void gather_step_run(rk_txn *t) {
    mk_state *st = t->mk;
    rk_shard *home = t->coord;
    uint64_t mask = mk_mask(st);
    rk_reply r = {st->reply, st->resp};
    rk_shard sc;
    int oom = scratch_init(&sc, home) != 0;
    for (int i = 0; i < g_nshards; i++) {
        if (!(mask & (1ull << i))) continue;
        rk_buf *part = &t->out[i];
        for (size_t off = 0; off + sizeof(gather_rec) <= part->len; off += sizeof(gather_rec)) {
            gather_rec rec;
            memcpy(&rec, part->data + off, sizeof(rec));
            if (rec.oom) { oom = 1; continue; }
            if (!rec.copy) continue;
            rk_slice key = st->argv[st->keypos[rec.key]];
            if (oom || db_add(&sc, &sc.dbs[rec.db], key, rec.copy) != 0) {
                obj_free(rec.copy); /* duplicate key or out of memory */
                continue;
            }
            if (rec.expire >= 0) db_set_expire(&sc, &sc.dbs[rec.db], key, rec.expire);
        }
    }
    if (oom) {
        if (sc.dbs) scratch_release(&sc);
        reply_error(&r, "ERR out of memory");
        st->done(t);
        return;
    }
    size_t reply_start = st->reply->len;
    mk_fp *before = (st->cmd->flags & (CMD_WRITE | CMD_MAY_REPLICATE)) ? fp_before(st, &sc) : NULL;
    rk_ctx ctx;
    ctx_for_shard(&ctx, &sc, t, st, st->argc, st->argv, st->reply);
    cmd_call(&ctx);
    st->blocked = ctx.block_requested;
    st->block_timeout = ctx.block_timeout;
    free(st->block_argv);
    st->block_argv = ctx.block_argv;
    home->dirty += sc.dirty;
    home->stats.total_error_replies += sc.stats.total_error_replies;
    /* Scripts (CMD_MAY_REPLICATE) write through redis.call. */
    int writes = (st->cmd->flags & (CMD_WRITE | CMD_MAY_REPLICATE)) && sc.dirty > 0;
    if (writes && plan_writeback(t, st, &sc, before) != 0) {
        free_writeback(st);
        st->reply->len = reply_start;
        reply_error(&r, "ERR out of memory");
        writes = 0;
    }
    free(before);
    scratch_release(&sc);
    if (writes) txn_hop_on(t, mask, writeback_hop, writeback_step);
    else st->done(t);
}

/* ---- entry point ------------------------------------------------------ */

static int key_group(const rk_command *cmd) {
    return cmd->n_keyspecs > 0 && cmd->keyspecs[0].fk_step > 1 ? cmd->keyspecs[0].fk_step : 1;
}

int multikey_args_complete(const rk_command *cmd, int argc, const int *keypos, int nkeys) {
    int group = key_group(cmd);
    for (int k = 0; k < nkeys; k++)
        if (keypos[k] + group - 1 >= argc) return 0;
    return 1;
}

static int copy_target_db(const rk_command *cmd, int argc, const rk_slice *argv) {
    if (strcmp(cmd->name, "copy") != 0) return -1;
    for (int i = 3; i + 1 < argc; i++) {
        if (argv[i].len == 2 && (argv[i].ptr[0] | 32) == 'd' && (argv[i].ptr[1] | 32) == 'b') {
            long long v;
            if (rk_str2ll(argv[i + 1].ptr, argv[i + 1].len, &v) && v >= 0 && v < 1 << 20) return (int)v;
        }
    }
    return -1;
}

/* Every hop and the scratch run see the keys as the command's client
 * should: a master client's keys past their TTL stay live (db.h). */
static void split_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    db_master_command = ((mk_state *)t->mk)->from_master;
    split_hop_run(s, t, out);
    db_master_command = 0;
}

static void gather_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    db_master_command = ((mk_state *)t->mk)->from_master;
    gather_hop_run(s, t, out);
    db_master_command = 0;
}

static void writeback_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    db_master_command = ((mk_state *)t->mk)->from_master;
    writeback_hop_run(s, t, out);
    db_master_command = 0;
}

static void gather_step(rk_txn *t) {
    db_master_command = ((mk_state *)t->mk)->from_master;
    gather_step_run(t);
    db_master_command = 0;
}

/* Fills a state for cmd; NULL on allocation failure. */
static mk_state *mk_state_new(const rk_command *cmd, int argc, rk_slice *argv, int dbid, int resp,
                              const int *keypos, int nkeys) {
    mk_state *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    st->keypos = malloc(sizeof(int) * (size_t)(nkeys ? nkeys : 1));
    st->keyshard = malloc(sizeof(int) * (size_t)(nkeys ? nkeys : 1));
    if (!st->keypos || !st->keyshard) {
        mk_state_free(st);
        return NULL;
    }
    st->cmd = cmd;
    st->argc = argc;
    st->argv = argv;
    st->dbid = dbid;
    st->resp = resp;
    st->nkeys = nkeys;
    for (int k = 0; k < nkeys; k++) {
        st->keypos[k] = keypos[k];
        st->keyshard[k] = rk_key_shard(argv[keypos[k]].ptr, argv[keypos[k]].len);
    }
    st->group = key_group(cmd);
    st->extra_db = copy_target_db(cmd, argc, argv);
    return st;
}

static void mk_start(rk_txn *t, mk_state *st, int first) {
    t->mk = st;
    st->from_master = t->client && (t->client->flags & CLIENT_MASTER);
    uint64_t mask = mk_mask(st);
    if (st->cmd->merge != MERGE_NONE) {
        if (first) txn_start(t, split_hop, split_step);
        else txn_hop_on(t, mask, split_hop, split_step);
    } else {
        if (first) txn_start(t, gather_hop, gather_step);
        else txn_hop_on(t, mask, gather_hop, gather_step);
    }
}

/* The standalone case: the command is the whole transaction. */
static void standalone_done(rk_txn *t) {
    mk_state *st = t->mk;
    rk_client *c = t->client;
    if (c && !(c->flags & CLIENT_CONN_GONE)) {
        if (st->blocked) {
            if (c->blocked) blocking_rerun_finished(c, 1);
            else client_block_from(c, st->cmd, st->argc, st->block_argv ? st->block_argv : st->argv,
                                   st->block_timeout);
        } else if (c->blocked) {
            blocking_rerun_finished(c, 0);
        }
    }
    txn_finish(t);
}

void multikey_run(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv, uint64_t shard_mask,
                  const int *keypos, int nkeys) {
    rk_txn *t = txn_new(c, cmd, shard_mask, argc, argv);
    if (!t) {
        rk_reply r = {client_reply_buf(c), c->resp};
        reply_error(&r, "ERR out of memory");
        return;
    }
    /* Key positions refer to argv; the txn's copy has the same layout. */
    mk_state *st = mk_state_new(cmd, t->argc, t->argv, t->dbid, t->resp, keypos, nkeys);
    if (!st) {
        reply_error(&t->r, "ERR out of memory");
        txn_finish(t);
        return;
    }
    st->reply = &t->reply;
    st->done = standalone_done;
    t->arg = st;
    t->arg_free = mk_state_free;
    mk_start(t, st, 1);
}

int multikey_run_in_txn(rk_txn *t, const rk_command *cmd, int argc, rk_slice *argv, int dbid,
                        const int *keypos, int nkeys, rk_buf *reply, void (*done)(rk_txn *t)) {
    mk_state *st = mk_state_new(cmd, argc, argv, dbid, t->resp, keypos, nkeys);
    if (!st) return -1;
    st->reply = reply;
    st->done = done;
    st->in_multi = 1;
    if (t->mk) mk_state_free(t->mk);
    mk_start(t, st, 0);
    return 0;
}

void multikey_release(rk_txn *t) {
    if (t->mk && t->mk != t->arg) mk_state_free(t->mk);
    t->mk = NULL;
}
